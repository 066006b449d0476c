"""A study opened in a folder: its settled config, its store and this process's worker."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L

from medaug.atomic import atomic_write
from medaug.study.config import StudyConfig, read_study, settle, study_from_dict
from medaug.study.runner import TrialRunner
from medaug.study.storage import open_storage
from medaug.study.worker import Runner, Worker, WorkerResult

STORE_URL_FILE = "store.url"


@dataclass
class Session:
    """The study in ``folder`` and the worker of this process."""

    folder: Path
    config: StudyConfig
    worker: Worker

    def work(self, max_trials: int | None = None) -> WorkerResult:
        return self.worker.run(max_trials)


def _name(folder: Path, name: str | None) -> str:
    return name or Path(folder).resolve().name


def open_session(folder: Path, raw: dict[str, Any], source: str = "command line",
                 storage_url: str | None = None, name: str | None = None,
                 say: Callable[[str], None] | None = print, runner: Runner | None = None,
                 callbacks: Sequence[L.Callback] = ()) -> Session:
    """Settle the study of ``raw`` (nested sections) in ``folder`` (a new one, or the same
    as the one there), open its store and a worker.

    Raises:
        ConfigError: bad settings, another study in the folder, or a store that cannot be
            opened.
    """
    folder = Path(folder)
    config = settle(folder, study_from_dict(raw, source))
    storage = open_storage(folder, storage_url)
    if storage_url:
        atomic_write(folder / STORE_URL_FILE, storage_url + "\n")
    name_file = folder / "store.name"
    if not name_file.is_file():
        atomic_write(name_file, _name(folder, name) + "\n")
    study_name = name or name_file.read_text().strip()
    runner = runner if runner is not None else TrialRunner(config, say, callbacks, folder)
    return Session(folder, config, Worker(folder, config, storage, runner, study_name, say))


def load_session(folder: Path, storage_url: str | None = None, name: str | None = None,
                 say: Callable[[str], None] | None = None) -> Session:
    """The study saved in ``folder`` with its store: for status and report (``say=None``: its
    worker only reads the store), or to join it as one more worker (``medaug study join``)
    without repeating its settings.

    Raises:
        ConfigError: no study in ``folder`` or a store that cannot be opened.
    """
    folder = Path(folder)
    config = read_study(folder)
    storage = open_storage(folder, storage_url)
    name_file = folder / "store.name"
    study_name = name or (name_file.read_text().strip() if name_file.is_file()
                          else _name(folder, None))
    runner = TrialRunner(config, say, (), folder)
    return Session(folder, config, Worker(folder, config, storage, runner, study_name, say))
