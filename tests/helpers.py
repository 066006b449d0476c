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


def tiny_npz(path: Path, n_train: int = 48, n_val: int = 16, n_test: int = 16, size: int = 32,
             seed: int = 0) -> Path:
    """Images ``(N, size, size)`` uint8: noise plus a bright square, top-left for label 0 and
    bottom-right for label 1; balanced labels ``(N, 1)``."""
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        labels = np.arange(n) % 2
        images = rng.integers(0, 80, size=(n, size, size)).astype(np.uint8)
        h = size // 3
        for i, label in enumerate(labels):
            at = slice(size - h, size) if label else slice(0, h)
            images[i, at, at] = 220
        arrays[f"{split}_images"] = images
        arrays[f"{split}_labels"] = labels[:, None].astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path
