"""The per-epoch metrics picture of one or more runs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from medaug.train.curves import plot_curves
from medaug.train.monitor import COLUMNS, write_training


def _run(folder: Path, epochs: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    rows = pd.DataFrame({c: rng.random(epochs) for c in COLUMNS})
    rows["epoch"] = np.arange(epochs)
    write_training(folder, rows)
    return folder


def test_curves_png_has_the_figure_size_and_no_temporary_file(tmp_path: Path) -> None:
    runs = [_run(tmp_path / "a", 4, 0), _run(tmp_path / "b", 6, 1)]
    out = plot_curves(runs, tmp_path / "fig" / "curves.png", labels=["simclr", "byol"])
    image = cv2.imread(str(out))
    assert image is not None and image.shape[:2] == (700, 1100)
    assert image.std() > 10  # lines and text, not a blank canvas
    assert [p.name for p in out.parent.iterdir()] == ["curves.png"]


def test_a_run_without_metrics_is_drawn_empty_not_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    out = plot_curves([tmp_path / "empty"], tmp_path / "c.png")
    assert out.is_file()
