"""A picture of one or more runs' per-epoch metrics: loss, kNN balanced accuracy, embedding
spread and throughput, one line per run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from medaug.errors import TrainingError
from medaug.store import TRAINING_FILE, save_png, training_log_path
from medaug.train.monitor import read_training

PANELS = (("loss", "loss"), ("knn_balanced_acc", "kNN balanced accuracy (val)"),
          ("emb_spread", "embedding spread (1 = spread, 0 = collapsed)"),
          ("images_per_s", "images/s"))


def check_runs(runs: Sequence[Path]) -> None:
    """Raise :class:`TrainingError` naming every folder of ``runs`` without per-epoch rows."""
    missing = [str(r) for r in runs if not training_log_path(Path(r)).is_file()]
    if missing:
        raise TrainingError(f"no {TRAINING_FILE} in {', '.join(missing)} (not a pretraining run "
                            "folder?)")


def plot_curves(runs: Sequence[Path], out: Path, labels: Sequence[str] | None = None) -> Path:
    """Write a PNG with one panel per metric and one line per run folder; returns ``out``."""
    labels = list(labels) if labels is not None else [Path(r).name for r in runs]
    tables = [read_training(Path(run)) for run in runs]
    fig = Figure(figsize=(11, 7), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2).ravel()
    for ax, (column, title) in zip(axes, PANELS, strict=True):
        for rows, label in zip(tables, labels, strict=True):
            if len(rows):
                ax.plot(rows["epoch"] + 1, rows[column], marker="o", markersize=3, label=label)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    if axes[0].lines:
        axes[0].legend()
    return save_png(fig, out)

