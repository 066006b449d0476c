"""The study store: URLs refused with a reason, and workers that open a fresh PostgreSQL
database at the same moment (each would create Optuna's tables) all get the store."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from medaug.errors import ConfigError
from medaug.study.storage import open_storage

OPENER = """
import sys, time
from pathlib import Path
from medaug.study.storage import open_storage
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
open_storage(Path('.'), sys.argv[1])
"""


def test_sqlite_and_unknown_urls_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SQLite"):
        open_storage(tmp_path, "sqlite:///x.db")
    with pytest.raises(ConfigError, match="postgresql://"):
        open_storage(tmp_path, "mysql://h/db")


def test_workers_opening_a_fresh_database_at_once_all_get_the_store(postgres_url: str) -> None:
    import sqlalchemy

    server, name = postgres_url.rsplit("/", 1)[0], f"medaug_race_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT",
                                     poolclass=sqlalchemy.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        start = time.time() + 4.0  # every process imports first, then all open together
        procs = [subprocess.Popen([sys.executable, "-c", OPENER, f"{server}/{name}", str(start)],
                                  env=dict(os.environ), stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
        errors = [p.communicate(timeout=120)[1] for p in procs]
        assert [p.returncode for p in procs] == [0] * 4, "\n".join(e for e in errors if e)
        tables = sqlalchemy.inspect(sqlalchemy.create_engine(
            f"{server}/{name}", poolclass=sqlalchemy.pool.NullPool)).get_table_names()
        assert {"studies", "trials"} <= set(tables)
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
