"""One way to write a file: to a temporary file in the same folder, renamed into place, so a
reader (or a crash) never sees a torn file. Text, JSON, CSV tables, PNG figures and numpy
arrays all go through :func:`atomic_write`. A foundation module: it imports no stage, so every
stage (the augmentation preview too) writes through it; :mod:`medaug.store` re-exports it.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def atomic_write(path: Path, data: bytes | str) -> Path:
    """Write ``data`` at ``path`` through a temporary file in the same folder renamed into
    place (readers see the old file or the new one, never a torn one); returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as indented JSON, atomically (:func:`atomic_write`)."""
    return atomic_write(path, json.dumps(data, indent=2, default=str) + "\n")


def write_table(path: Path, frame: pd.DataFrame) -> Path:
    """Write ``frame`` as CSV, atomically (:func:`atomic_write`)."""
    return atomic_write(path, frame.to_csv(index=False))


def save_png(figure: Any, path: Path, dpi: int = 100) -> Path:
    """Save a matplotlib figure as PNG at ``path``, atomically (:func:`atomic_write`; parent
    folders made); returns ``path``."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return atomic_write(path, buffer.getvalue())


def save_npy(path: Path, array: np.ndarray) -> Path:
    """Save ``array`` as ``.npy`` at ``path``, atomically; returns ``path``."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return atomic_write(path, buffer.getvalue())


def save_npz(path: Path, compressed: bool = True, **arrays: Any) -> Path:
    """Save ``arrays`` as an ``.npz`` at ``path`` (compressed unless told), atomically;
    returns ``path``."""
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return atomic_write(path, buffer.getvalue())
