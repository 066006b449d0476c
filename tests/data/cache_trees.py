"""Tiny class-per-folder trees for the cache tests: constant images whose value is in the
file name, so a cached row can be checked against its file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from medaug.data.preprocess import PreprocessConfig

PLAIN = PreprocessConfig(size=8, clahe=False)


def constant_png(path: Path, value: int, size: int = 8) -> Path:
    """A ``size`` x ``size`` PNG filled with ``value``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.full((size, size), value, np.uint8)):
        raise RuntimeError(f"could not write {path}")
    return path


def make_tree(root: Path, n_per_class: int = 3, split: str = "") -> Path:
    """``root/{normal,abnormal}/v<value>.png``: constant 8x8 images whose value is in the name
    (row id * 10)."""
    base = root / split if split else root
    for k in range(2 * n_per_class):
        cls = "normal" if k % 2 == 0 else "abnormal"
        constant_png(base / cls / f"v{k * 10:03d}.png", k * 10)
    return root


def value_of(path: str) -> int:
    """The value a :func:`make_tree` image holds, from its file name."""
    return int(Path(path).stem[1:])
