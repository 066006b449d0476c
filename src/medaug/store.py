"""Run and evaluation folders: their file names, their records, one atomic write, and the
weights they hold (encoder, head, probe).

Every file medaug leaves is written to a temporary file in the same folder and renamed into
place, so a crash never leaves a torn file behind. A run's encoder is ``encoder.pt`` (a plain
``state_dict`` of the backbone) with ``encoder.json`` (how to rebuild the module it loads into,
with torchvision alone).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import pickle
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from medaug.atomic import atomic_write, save_npy, save_npz, save_png, write_json, write_table
from medaug.errors import MedaugError, TrainingError
from medaug.models.backbones import create_backbone, feature_dim, recipe

__all__ = ["atomic_write", "save_npy", "save_npz", "save_png", "write_json", "write_table"]

ENCODER_FILE = "encoder.pt"
ENCODER_INFO = "encoder.json"
#: A run folder's record: resolved config, data fingerprint, status.
RUN_FILE = "run.json"
#: Per-epoch (or per-validation-pass) training rows of a run folder (pretraining and
#: supervised); ``metrics.csv`` only ever holds evaluation metric rows.
TRAINING_FILE = "training.csv"
#: Where run folders made before ``training.csv`` kept their training rows.
LEGACY_TRAINING_FILES = ("metrics.csv", "train_metrics.csv")
#: The file a run folder's writer holds an exclusive ``flock`` on for the whole run.
LOCK_FILE = ".lock"

def export_encoder(backbone: nn.Module, folder: Path, name: str, **info: Any) -> Path:
    """Write ``folder/encoder.pt`` (CPU ``state_dict``) and ``folder/encoder.json``
    (backbone name, feature width, the torchvision recipe, and ``info``)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = save_state_dict(backbone, folder / ENCODER_FILE)
    stem = next((m for m in backbone.modules() if isinstance(m, nn.Conv2d)), None)
    meta = {**info, "backbone": name, "in_chans": stem.in_channels if stem is not None else 1,
            "feature_dim": feature_dim(backbone),
            "torchvision": recipe(name)}
    write_json(folder / ENCODER_INFO, meta)
    return path


def save_state_dict(module: nn.Module, path: Path) -> Path:
    """Save a CPU copy of ``module``'s ``state_dict`` at ``path`` through a temporary file
    renamed into place (a save cut short leaves the old file and no temporary one); returns
    ``path``."""
    state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return atomic_write(path, buffer.getvalue())


def load_encoder(path: Path) -> tuple[nn.Module, dict[str, Any]]:
    """The backbone saved in a run folder (or at ``encoder.pt`` with ``encoder.json`` beside
    it), with its info.

    Raises:
        TrainingError: no encoder there, or its weights do not fit the recorded backbone.
    """
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    weights, meta_path = folder / ENCODER_FILE, folder / ENCODER_INFO
    if not weights.is_file() or not meta_path.is_file():
        raise TrainingError(f"{folder}: no {ENCODER_FILE} with {ENCODER_INFO} beside it (is it a "
                            "finished `medaug pretrain` run folder?)")
    try:
        meta = json.loads(meta_path.read_text())
        module = create_backbone(meta["backbone"], in_chans=int(meta.get("in_chans", 1)))
    except (ValueError, KeyError, TypeError, MedaugError) as exc:
        raise TrainingError(f"{meta_path}: not a valid encoder description ({exc})") from exc
    try:
        module.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except (RuntimeError, OSError, EOFError) as exc:
        raise TrainingError(f"{weights}: weights do not fit backbone {meta['backbone']!r}: "
                            f"{exc}") from exc
    return module, meta


@dataclass(frozen=True)
class RunRecord:
    """What ``run.json`` says of a run folder.

    Attributes:
        status: ``running``, ``finished``, ``interrupted`` or ``failed``.
        config: the resolved config sections (``data``, ``preprocess``, the stage's own).
        data: the data block (name, fingerprint, cache, image counts).
        raw: the whole record.
    """

    status: str
    config: dict[str, Any]
    data: dict[str, Any]
    raw: dict[str, Any]
    stale: bool = False


def read_run(folder: Path) -> RunRecord | None:
    """The record of run folder ``folder``, or ``None`` when it has no ``run.json``.

    A record that says ``running`` while nobody holds the folder's lock (its process was
    killed, e.g. ``kill -9``) reads as ``interrupted`` with ``stale`` set; a folder without a
    lock file (made before the lock existed) reads as recorded.

    Raises:
        TrainingError: a ``run.json`` that is not a medaug run record (the message names it
            and says what to do).
    """
    path = Path(folder) / RUN_FILE
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise TrainingError(f"{path}: not a medaug run record ({exc}); restore it or start a "
                            "new run in another folder") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("config"), dict) \
            or not isinstance(raw.get("status"), str):
        raise TrainingError(f"{path}: not a medaug run record (no status and config); restore "
                            "it or start a new run in another folder")
    data = raw.get("data")
    status, stale = raw["status"], False
    if status == "running" and (Path(folder) / LOCK_FILE).is_file() \
            and lock_holder(folder) is None:
        status, stale = "interrupted", True
    return RunRecord(status, raw["config"], data if isinstance(data, dict) else {}, raw, stale)


def write_run_record(folder: Path, status: str, config: dict[str, Any], data: dict[str, Any],
                     reason: str | None = None, **extra: Any) -> Path:
    """Write ``folder/run.json`` atomically: ``status`` (``running``, ``finished``,
    ``interrupted``, ``failed``), the resolved ``config`` sections, the ``data`` block, the
    ``reason``, ``extra`` fields and provenance (medaug and torch versions, time, pid, host).

    Raises:
        TrainingError: the folder cannot be written (the message names it and the reason).
    """
    record = {"status": status, "reason": reason, "config": config, "data": data, **extra,
              "medaug_version": medaug_version(), "torch_version": torch.__version__,
              "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "pid": os.getpid(),
              "host": socket.gethostname()}
    try:
        return write_json(Path(folder) / RUN_FILE, record)
    except OSError as exc:
        raise folder_error(folder, exc) from exc


def folder_error(folder: Path, exc: OSError) -> TrainingError:
    """The one-line error of a run folder that cannot be made or written."""
    return TrainingError(f"{folder}: cannot write the run folder ({exc.strerror or exc}); "
                         "choose another --out")


class Interrupted(TrainingError):
    """A run stopped by Ctrl-C (``exit_code`` 130) or SIGTERM (143); its finished epochs stay
    and ``--resume`` continues it."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@contextlib.contextmanager
def lock_run_folder(folder: Path) -> Iterator[Path]:
    """Hold an exclusive OS lock (``flock``) on ``folder/.lock`` while the block runs (made
    with its parents first). The lock dies with the process, so a killed run never leaves
    the folder locked.

    Raises:
        TrainingError: another process holds the folder (nothing in it is changed), or the
            folder cannot be made.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise folder_error(folder, exc) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise TrainingError(f"{folder} is being written by another process (pid "
                                f"{_lock_pid(folder)}); wait for it or choose another "
                                "--out") from exc
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield folder
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def lock_holder(folder: Path) -> int | str | None:
    """The pid (``"unknown"`` when unreadable) of the process holding ``folder``'s lock, or
    ``None`` when the lock is free or there is no lock file. A lock this process holds
    through another descriptor counts as held."""
    try:
        fd = os.open(Path(folder) / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _lock_pid(folder)
    finally:
        os.close(fd)
    return None


def _lock_pid(folder: Path) -> int | str:
    try:
        return int((Path(folder) / LOCK_FILE).read_text().strip())
    except (OSError, ValueError):
        return "unknown"


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A training checkpoint (``last.ckpt``) loaded on the CPU with ``weights_only=True``
    (tensors and plain containers only: nothing in it can run code).

    Raises:
        TrainingError: the file is not a medaug checkpoint or holds refused content.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, ValueError,
            AttributeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrainingError(f"{path}: not a medaug checkpoint / refused unsafe content "
                            f"({reason[:200]}); start a new run in another folder") from exc
    if not isinstance(state, dict) or "state_dict" not in state:
        raise TrainingError(f"{path}: not a medaug checkpoint (no state_dict); start a new run "
                            "in another folder")
    return state


def training_log_path(folder: Path) -> Path:
    """Where ``folder``'s training rows are: ``training.csv``, or in a folder made before it
    the old table (``metrics.csv`` with an ``epoch`` column and no ``metric`` column, or
    ``train_metrics.csv``); ``training.csv`` when there is neither."""
    folder = Path(folder)
    new = folder / TRAINING_FILE
    if new.is_file():
        return new
    for name in LEGACY_TRAINING_FILES:
        old = folder / name
        if old.is_file():
            try:
                header = set(pd.read_csv(old, nrows=0).columns)
            except (OSError, ValueError, pd.errors.ParserError):
                continue
            if "epoch" in header and "metric" not in header:
                return old
    return new


def saved_data_config(folder: Path) -> tuple[dict[str, Any], str] | None:
    """The ``data`` and ``preprocess`` sections a run folder was made with, and the record's
    path (for messages); ``None`` when ``folder`` holds no run record."""
    record = read_run(folder) if Path(folder).is_dir() else None
    if record is None:
        return None
    sections = {k: record.config[k] for k in ("data", "preprocess") if k in record.config}
    return sections, str(Path(folder) / RUN_FILE)


def medaug_version() -> str:
    """The installed medaug version (recorded beside every artefact)."""
    try:
        return version("medaug")
    except PackageNotFoundError:  # run from a source tree that was not installed
        return "unknown (not installed)"


# -- provenance --


def provenance() -> dict[str, Any]:
    """The provenance block every record carries: medaug and torch versions, when it was
    ``written`` (ISO time), the host and the process id."""
    return {"medaug_version": medaug_version(), "torch_version": torch.__version__,
            "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": socket.gethostname(),
            "pid": os.getpid()}


# -- probes --

#: Where an evaluation folder keeps its fitted probes (``probes/<model>.npz``).
PROBES_DIR = "probes"


def probe_file_name(model: str) -> str:
    """``<model>.npz`` with every character but letters, digits and ``._@()-`` made ``_``."""
    import re

    return re.sub(r"[^A-Za-z0-9._@()-]+", "_", model).strip("_") + ".npz"


def save_probe(path: Path, arrays: dict[str, Any], **meta: Any) -> Path:
    """Write a fitted probe at ``path`` as ``.npz`` (no pickle): ``arrays`` (named numbers and
    arrays, e.g. scaler ``mean``/``scale``, ``coef``, ``intercept``, ``C``, ``threshold``) and
    ``meta`` (JSON: weights SHA-256, data fingerprint, ...), atomically; returns ``path``."""
    import numpy as np

    return save_npz(path, compressed=False, **{k: np.asarray(v) for k, v in arrays.items()},
                    meta=np.asarray(json.dumps(meta, default=str)))


def load_probe(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The arrays and the meta :func:`save_probe` wrote at ``path`` (read with
    ``allow_pickle=False``: nothing in the file can run code).

    Raises:
        ConfigError: no such file, or not a medaug probe file.
    """
    import numpy as np

    from medaug.errors import ConfigError

    try:
        with np.load(Path(path), allow_pickle=False) as saved:
            arrays = {k: saved[k] for k in saved.files if k != "meta"}
            meta = json.loads(str(saved["meta"]))
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise ConfigError(f"{path}: not a medaug probe file ({exc}); rerun `medaug probe` "
                          "to write it") from exc
    if not isinstance(meta, dict):
        raise ConfigError(f"{path}: not a medaug probe file (no meta); rerun `medaug probe`")
    return arrays, meta
