"""Where medaug finds data and writes caches.

Data: ``MEDAUG_DATA_DIR`` (the project's CI points it at ``../shared/data``). Caches:
``MEDAUG_CACHE_DIR`` or ``.medaug-cache`` in the current directory. Medaug never writes into
the data directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from medaug.errors import DataError

DATA_ENV = "MEDAUG_DATA_DIR"
CACHE_ENV = "MEDAUG_CACHE_DIR"


def data_dir() -> Path | None:
    """The data root from ``MEDAUG_DATA_DIR``, or ``None`` when unset."""
    value = os.environ.get(DATA_ENV)
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """The cache root (created on first use).

    Raises:
        DataError: the root is not a folder (say ``MEDAUG_CACHE_DIR`` names a file) or cannot
            be made; the message names the variable and the path.
    """
    value = os.environ.get(CACHE_ENV)
    root = Path(value).expanduser() if value else Path.cwd() / ".medaug-cache"
    where = f"{CACHE_ENV}={root}" if value else f"the cache folder {root} ({CACHE_ENV} unset)"
    if root.exists() and not root.is_dir():
        raise DataError(f"{where}: not a folder; point {CACHE_ENV} at a folder (or where one "
                        "can be made)")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{where}: the folder cannot be made ({exc.strerror or exc})") from exc
    return root
