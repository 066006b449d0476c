"""Helpers shared by tests (importable as ``helpers``: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_png(path: Path, size: tuple[int, int] = (16, 16), seed: int = 0,
              dtype: type = np.uint8) -> Path:
    """A small random grayscale PNG (8- or 16-bit)."""
    rng = np.random.default_rng(seed)
    hi = 255 if dtype == np.uint8 else 65535
    img = rng.integers(0, hi, size=size, endpoint=True).astype(dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img):
        raise RuntimeError(f"could not write {path}")
    return path
