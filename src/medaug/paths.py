"""Where medaug finds data and writes caches.

Data: ``MEDAUG_DATA_DIR`` (the project's CI points it at ``../shared/data``). Caches:
``MEDAUG_CACHE_DIR`` or ``.medaug-cache`` in the current directory. Medaug never writes into
the data directory.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "MEDAUG_DATA_DIR"
CACHE_ENV = "MEDAUG_CACHE_DIR"


def data_dir() -> Path | None:
    """The data root from ``MEDAUG_DATA_DIR``, or ``None`` when unset."""
    value = os.environ.get(DATA_ENV)
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """The cache root (created on first use)."""
    value = os.environ.get(CACHE_ENV)
    root = Path(value).expanduser() if value else Path.cwd() / ".medaug-cache"
    root.mkdir(parents=True, exist_ok=True)
    return root
