"""The study report's figures: matplotlib (Agg) PNGs written atomically
(:func:`medaug.atomic.save_png`). Each function takes the analysis tables and a path and
returns the path it wrote.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from medaug.atomic import save_png


def _save(fig: plt.Figure, path: Path) -> Path:
    try:
        fig.tight_layout()
        return save_png(fig, path)
    finally:
        plt.close(fig)


def _errors(values: pd.Series, lo: pd.Series, hi: pd.Series) -> np.ndarray:
    """``(2, N)`` non-negative error bar lengths (0 where the interval is NaN)."""
    v = values.to_numpy(float)
    return np.nan_to_num(np.abs(np.stack([v - lo.to_numpy(float), hi.to_numpy(float) - v])))


def heatmap(matrix: pd.DataFrame, title: str, path: Path) -> Path:
    """Op x op matrix (square frame) as an annotated heat map (NaN cells blank)."""
    n = max(len(matrix), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * n, 0.8 + 0.7 * n))
    values = matrix.to_numpy(float)
    im = ax.imshow(np.ma.masked_invalid(values), cmap="viridis")
    ax.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=45, ha="right")
    ax.set_yticks(range(len(matrix.index)), matrix.index)
    finite = values[np.isfinite(values)]
    mid = float(finite.mean()) if finite.size else 0.0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if np.isfinite(values[i, j]):
                ax.text(j, i, f"{values[i, j]:.3f}", ha="center", va="center", fontsize=8,
                        color="white" if values[i, j] < mid else "black")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title(title)
    return _save(fig, path)


def forest(effects: pd.DataFrame, title: str, path: Path, label: str = "term") -> Path:
    """Forest plot: one row per effect (``effect, lo, hi`` and a ``label`` column), 0 line."""
    fig, ax = plt.subplots(figsize=(7, 1.0 + 0.35 * max(len(effects), 1)))
    y = np.arange(len(effects))
    ax.errorbar(effects["effect"], y, xerr=_errors(effects["effect"], effects["lo"],
                                                   effects["hi"]),
                fmt="o", capsize=3)
    ax.axvline(0, color="grey", lw=1, ls="--")
    ax.set_yticks(y, effects[label].astype(str))
    ax.invert_yaxis()
    ax.set_xlabel("difference of AUROC [95% CI]")
    ax.set_title(title)
    return _save(fig, path)


def ranking_plot(table: pd.DataFrame, band: tuple[float, float], title: str, path: Path
                 ) -> Path:
    """Groups of one method by rank: mean test AUROC with the mean per-seed interval, and the
    random-init band ``(mean, sd)`` of the references shaded."""
    fig, ax = plt.subplots(figsize=(7, 1.0 + 0.35 * max(len(table), 1)))
    y = np.arange(len(table))
    mean, sd = band
    if np.isfinite(mean):
        width = sd if np.isfinite(sd) else 0.0
        ax.axvspan(mean - width, mean + width, color="tab:red", alpha=0.15,
                   label="random init mean ± sd")
        ax.axvline(mean, color="tab:red", lw=1)
    ax.errorbar(table["test_auroc"], y, xerr=_errors(table["test_auroc"],
                                                     table["test_auroc_lo"],
                                                     table["test_auroc_hi"]),
                fmt="o", capsize=3, label="test AUROC")
    ax.set_yticks(y, table["label"].astype(str))
    ax.invert_yaxis()
    ax.set_xlabel("test AUROC")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title)
    return _save(fig, path)


def val_test_scatter(table: pd.DataFrame, path: Path) -> Path:
    """Mean val AUROC against mean test AUROC, one point a group, coloured by method."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for method, g in table.groupby("method", sort=True):
        ax.scatter(g["val_auroc"], g["test_auroc"], label=str(method), alpha=0.8)
    ax.set_xlabel("mean val AUROC")
    ax.set_ylabel("mean test AUROC")
    ax.legend(fontsize=8)
    ax.set_title("validation vs test")
    return _save(fig, path)


def label_efficiency(curves: pd.DataFrame, path: Path) -> Path:
    """Test AUROC against label fraction (log x) per (method, combo, role), with intervals."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (method, combo, role), g in curves.groupby(["method", "combo", "role"], sort=True):
        g = g.sort_values("fraction")
        ax.errorbar(g["fraction"], g["test_auroc"],
                    yerr=_errors(g["test_auroc"], g["test_auroc_lo"], g["test_auroc_hi"]),
                    marker="o", capsize=3, ls="--" if role == "random" else "-",
                    label=f"{method} {combo} ({role})")
    ax.set_xscale("log")
    ax.set_xlabel("fraction of training labels")
    ax.set_ylabel("test AUROC")
    ax.legend(fontsize=7)
    ax.set_title("label efficiency")
    return _save(fig, path)


def compute_plot(summary: pd.DataFrame, path: Path) -> Path:
    """Mean seconds per run (bars) per method and for the references (``total`` left out)."""
    rows = summary[summary["what"] != "total"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(rows["what"].astype(str), rows["mean_seconds"].to_numpy(float))
    ax.set_ylabel("seconds per run")
    ax.set_title("compute per trial")
    return _save(fig, path)
