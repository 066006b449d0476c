"""The label-efficiency curve: test AUROC (and balanced accuracy) against the fraction of
training labels, one line per model and probe, from one or more evaluation folders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from medaug.errors import DataError
from medaug.evaluate.record import SUMMARY_FILE
from medaug.store import save_png

PANELS = (("auroc", "test AUROC"), ("balanced_accuracy", "test balanced accuracy"))
CURVE_FILE = "label_curve.png"


def read_summaries(folders: Sequence[Path], level: str = "image") -> pd.DataFrame:
    """The ``summary.csv`` rows of ``level`` of every evaluation folder, with a ``source``
    column (the folder's name).

    Raises:
        DataError: a folder without ``summary.csv``.
    """
    frames = []
    for folder in folders:
        path = Path(folder) / SUMMARY_FILE
        if not path.is_file():
            raise DataError(f"{folder}: no {SUMMARY_FILE} (run `medaug probe` or `medaug "
                            "supervised` with --out there first)")
        frame = pd.read_csv(path, dtype={"model": str, "probe": str, "level": str})
        frames.append(frame[frame["level"] == level].assign(source=Path(folder).name))
    return pd.concat(frames, ignore_index=True)


def plot_label_curve(summary: pd.DataFrame, out: Path,
                     probes: Sequence[str] = ("logistic", "end-to-end")) -> Path:
    """Write a PNG of each metric of :data:`PANELS` against the label fraction (log axis):
    the mean over label subsets with ± one standard deviation as error bars (with one subset,
    its bootstrap interval); returns ``out``."""
    rows = summary[summary["probe"].isin(probes)]
    if rows.empty:
        raise DataError(f"no {' or '.join(probes)} results to draw")
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(PANELS))
    for ax, (metric, title) in zip(axes, PANELS, strict=True):
        for (model, probe), line in rows.groupby(["model", "probe"], sort=False):
            line = line.sort_values("fraction")
            x = line["fraction"].to_numpy(dtype=float)
            y = line[metric].to_numpy(dtype=float)
            sd = line[f"{metric}_sd"].to_numpy(dtype=float)
            low = np.where(np.isnan(sd), y - line[f"{metric}_low"], sd)
            high = np.where(np.isnan(sd), line[f"{metric}_high"] - y, sd)
            ax.errorbar(x, y, yerr=np.vstack([low, high]), marker="o", capsize=3,
                        label=f"{model} ({probe})")
        ax.set_xscale("log")
        ax.set_xlabel("fraction of training labels")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return save_png(fig, out)
