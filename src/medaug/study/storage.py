"""The study store: Optuna, embedded by default.

* Default: Optuna's journal file storage (``optuna.journal`` in the study folder), which
  several processes on one machine (or on a shared file system with working locks) append to
  safely; Optuna recommends it over SQLite for concurrent local workers.
* ``postgresql://user@host/db``: Optuna's RDB storage on a PostgreSQL server, for workers on
  several machines (their run folders on one shared path).

``optuna-dashboard`` reads either (``optuna-dashboard studies/knee/optuna.journal``).

Workers claim trials the way Optuna's own queue does (a WAITING trial set to RUNNING by one
process only) and keep a heartbeat in the trial's system attributes; :func:`stale` tells when a
worker died (no heartbeat for ``grace`` seconds, or on the same host a pid that is gone).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from medaug.errors import ConfigError
from medaug.study.layout import JOURNAL_FILE

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

HEARTBEAT = "medaug_heartbeat"
WORKER = "medaug_worker"
LOCK_FILE = ".store.lock"


def open_storage(folder: Path, url: str | None = None) -> BaseStorage:
    """The store of the study in ``folder``: the journal file there, or ``url``.

    Raises:
        ConfigError: an SQLite or unknown URL, or a server that cannot be reached.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not url:
        folder.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(folder / JOURNAL_FILE)))
    if url.startswith("sqlite"):
        raise ConfigError("study: SQLite does not take concurrent workers reliably; use the "
                          "default journal file (no --storage) or postgresql://")
    if not url.startswith(("postgresql://", "postgresql+psycopg2://")):
        raise ConfigError(f"study: --storage {url!r}: give postgresql://user@host/db or none "
                          "(the journal file in the study folder)")
    try:
        return _open_rdb(url)
    except Exception as exc:  # sqlalchemy's OperationalError and friends
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"study: cannot open the store {url}: {first}") from exc


SCHEMA_LOCK = 0x6D656461  # "meda": the advisory lock that serialises creating Optuna's tables


def _open_rdb(url: str) -> RDBStorage:
    """Optuna's RDB storage on ``url``, its tables created under a PostgreSQL advisory lock:
    two workers starting at once on a fresh database would otherwise both create the schema
    and one would fail on a duplicate type."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with _advisory_lock(engine, SCHEMA_LOCK):
            return RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    finally:
        engine.dispose()


@contextlib.contextmanager
def _advisory_lock(engine: Engine, key: int) -> Iterator[None]:
    """Hold PostgreSQL's session advisory lock ``key`` on a connection of ``engine`` while the
    block runs; others asking for ``key`` wait."""
    from sqlalchemy import text

    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})


def describe(storage: BaseStorage, folder: Path) -> str:
    """Where the store lives, for messages and the README's dashboard line."""
    if isinstance(storage, RDBStorage):
        return str(storage.engine.url.render_as_string(hide_password=True))
    return str(folder / JOURNAL_FILE)


@contextlib.contextmanager
def store_lock(storage: BaseStorage, folder: Path) -> Iterator[None]:
    """Hold the study's one lock while the grid is enqueued or dead workers' trials are taken
    over, so two workers never add the same trial: a file lock in the study folder, or a
    PostgreSQL advisory lock for a server store."""
    if isinstance(storage, RDBStorage):
        key = zlib.crc32(str(folder.resolve()).encode()) & 0x7FFFFFFF
        with _advisory_lock(storage.engine, key):
            yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_FILE, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def claim(storage: BaseStorage, study: optuna.Study) -> int | None:
    """Set one WAITING trial of ``study`` to RUNNING for this process and return its id (the
    storage lets exactly one process do that), or ``None`` when none is waiting."""
    for trial in storage.get_all_trials(study._study_id, deepcopy=False,
                                        states=(TrialState.WAITING,)):
        try:
            if storage.set_trial_state_values(trial._trial_id, state=TrialState.RUNNING):
                return trial._trial_id
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


def worker_id() -> dict[str, object]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def stale(trial: FrozenTrial, grace: float, now: float | None = None) -> bool:
    """A RUNNING trial whose worker is gone: on this host a pid that no longer runs, else no
    heartbeat for ``grace`` seconds (a trial claimed but never beaten counts from its start)."""
    if trial.state != TrialState.RUNNING:
        return False
    worker = trial.system_attrs.get(WORKER) or {}
    if worker.get("host") == socket.gethostname() and worker.get("pid"):
        try:
            os.kill(int(worker["pid"]), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
    beat = trial.system_attrs.get(HEARTBEAT)
    if beat is None:
        start = trial.datetime_start.timestamp() if trial.datetime_start else None
        beat = start
    now = time.time() if now is None else now
    return beat is not None and now - float(beat) > grace


class Heartbeat:
    """While open, write this worker's id and a heartbeat into trial ``trial_id`` every
    ``interval`` seconds (a daemon thread)."""

    def __init__(self, storage: BaseStorage, trial_id: int, interval: float) -> None:
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="medaug-heartbeat")

    def beat(self) -> None:
        with contextlib.suppress(Exception):  # a finished trial refuses attributes: stop then
            self.storage.set_trial_system_attr(self.trial_id, HEARTBEAT, time.time())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def __enter__(self) -> Heartbeat:
        self.storage.set_trial_system_attr(self.trial_id, WORKER, worker_id())
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
