"""The picture ``medaug explain`` writes: one row per image (the preprocessed image the models
saw, with its label), one column per model (its heat map over the image, with its probability
of abnormal and whether that call was right)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from medaug.explain.gradcam import overlay
from medaug.store import save_png

_OUTCOME_COLOURS = {"TP": "#1a7f37", "TN": "#1a7f37", "FP": "#cf222e", "FN": "#cf222e"}


def plot_panel(images: np.ndarray, heat: np.ndarray, labels: Sequence[str],
               captions: Sequence[str], models: Sequence[str], probs: np.ndarray,
               calls: np.ndarray, out: Path, title: str = "", cell: float = 1.9) -> Path:
    """Write the panel PNG at ``out``; returns ``out``.

    Args:
        images: ``(R, S, S)`` uint8, what the models saw (after preprocessing).
        heat: ``(M, R, S, S)`` in [0, 1], model ``m``'s heat map of image ``r``.
        labels: ``R`` row labels (``"abnormal"``, ``"normal"``).
        captions: ``R`` short texts under each label (file name, patient).
        models: ``M`` column titles.
        probs: ``(M, R)`` probability of abnormal.
        calls: ``(M, R)`` outcome of each model's call (``TP``, ``FN``, ``FP``, ``TN``).
        title: figure title (dataset, method, target).
    """
    n_rows, n_models = len(images), len(models)
    fig = Figure(figsize=(cell * (n_models + 1) + 0.6, cell * n_rows + 0.9), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.asarray(fig.subplots(n_rows, n_models + 1, squeeze=False))
    for r in range(n_rows):
        ax = axes[r, 0]
        ax.imshow(images[r], cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{labels[r]}\n{captions[r]}", fontsize=7)
        for m in range(n_models):
            ax = axes[r, m + 1]
            ax.imshow(overlay(images[r], heat[m, r]))  # RGB
            call = str(calls[m, r])
            empty = "\n(no positive evidence)" if heat[m, r].max() <= 0 else ""
            ax.set_title(f"p(abnormal) = {probs[m, r]:.2f}  {call}{empty}", fontsize=8,
                         color=_OUTCOME_COLOURS.get(call, "black"))
    for m, name in enumerate(models):
        axes[0, m + 1].annotate(name, xy=(0.5, 1.32), xycoords="axes fraction", ha="center",
                                fontsize=9, fontweight="bold")
    axes[0, 0].annotate("image (as the models saw it)", xy=(0.5, 1.32), xycoords="axes fraction",
                        ha="center", fontsize=9, fontweight="bold")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    bar = fig.colorbar(ScalarMappable(Normalize(0, 1), cmap="jet"), ax=axes[:, -1].tolist(),
                       fraction=0.05, shrink=0.6)
    bar.set_label("heat (each map scaled to its maximum)", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_png(fig, out, dpi=110)


def plot_mean_maps(mean_image: np.ndarray, mean_heat: np.ndarray, models: Sequence[str],
                   out: Path, title: str = "", cell: float = 2.2) -> Path:
    """Write one picture per model of its mean heat map ``(M, S, S)`` over the mean image
    ``(S, S)`` (float, 0-255) of the images averaged; returns ``out``."""
    fig = Figure(figsize=(cell * len(models) + 0.6, cell + 0.9), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.asarray(fig.subplots(1, len(models), squeeze=False))[0]
    image = np.uint8(np.clip(np.round(mean_image), 0, 255))
    for ax, name, heat in zip(axes, models, mean_heat, strict=True):
        scaled = heat / heat.max() if heat.max() > 0 else heat
        ax.imshow(overlay(image, scaled))
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    return save_png(fig, out, dpi=110)
