"""The panel picture: one row per image and one column per model beside the image, written
atomically; empty heat maps are marked."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from medaug.explain.panel import plot_panel


def _panel(tmp_path: Path, rows: int, models: int, empty: bool = False) -> np.ndarray:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(rows, 16, 16)).astype(np.uint8)
    heat = rng.random((models, rows, 16, 16)).astype(np.float32)
    if empty:
        heat[0, 0] = 0
    out = tmp_path / f"panel-{rows}-{models}.png"
    path = plot_panel(images, heat, ["abnormal"] * rows, ["a.png (p1)"] * rows,
                      [f"m{k}" for k in range(models)], rng.random((models, rows)),
                      np.full((models, rows), "TP"), out, title="test")
    assert path == out and out.is_file()
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary file was renamed into place
    image = cv2.imread(str(out))
    assert image is not None
    return image


def test_the_panel_grows_with_images_and_models(tmp_path: Path) -> None:
    small = _panel(tmp_path, rows=2, models=1)
    tall = _panel(tmp_path, rows=4, models=1)
    wide = _panel(tmp_path, rows=2, models=3)
    assert tall.shape[0] > 1.6 * small.shape[0]
    assert wide.shape[1] > 1.6 * small.shape[1]


def test_a_panel_with_an_empty_map_is_drawn(tmp_path: Path) -> None:
    image = _panel(tmp_path, rows=1, models=2, empty=True)
    assert image.shape[0] > 100 and image.shape[1] > 200
