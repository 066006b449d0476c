"""A picture of what a spec does: every op alone (forced to ``p=1``), then the whole pipeline."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from medaug.atomic import save_png
from medaug.augment.pipeline import build_pipeline
from medaug.augment.registry import create_op, parse_spec
from medaug.errors import AugmentError

#: Side of one image tile, in inches, and the width of the row-label column.
TILE_IN = 1.6
LABEL_IN = 2.2
TITLE_IN = 0.35
DPI = 100


def write_preview(images: Tensor, spec: str, path: str | os.PathLike[str], seed: int = 0,
                  titles: Sequence[str] | None = None) -> Path:
    """Write a PNG grid showing ``spec`` on ``images`` and return its path.

    Rows, top to bottom: the originals; each op of the spec alone, rebuilt with ``p=1``; the
    whole pipeline (with the spec's own ``p``). One column per image; grayscale with
    ``vmin=0, vmax=1``; each row is labelled with the op's ``repr`` and, for ops with lengths,
    what they are at the images' size (``sigma 0.029-0.57 px at 64 px``). The figure is
    ``LABEL_IN + N * TILE_IN`` by ``rows * TILE_IN`` inches at ``DPI``. The file is written to
    a temporary name beside ``path`` and moved into place, so a reader never sees half a file.

    Args:
        images: ``(N, 1, H, W)`` float in ``[0, 1]``.
        spec: a spec string (``"none"`` shows the originals and the identity pipeline).
        path: the PNG to write; parent folders are created.
        seed: seeds the generator that every row draws from, in order.
        titles: one caption per image (its class and name, say), shown above the first row.
    """
    if images.ndim != 4 or images.shape[1] != 1 or not images.is_floating_point():
        raise AugmentError(f"preview: expected float images (N, 1, H, W), got "
                           f"{tuple(images.shape)} {images.dtype}")
    if titles is not None and len(titles) != images.shape[0]:
        raise AugmentError(f"preview: {len(titles)} titles for {images.shape[0]} images")
    pipeline = build_pipeline(spec)
    ops = [] if len(pipeline) == 0 else [
        create_op(name, **{**kwargs, "p": 1.0}) for name, kwargs in parse_spec(spec)]
    g = torch.Generator().manual_seed(seed)
    x = images.detach().cpu()
    rows: list[tuple[str, Tensor]] = [("original", x)]
    size = x.shape[-2]
    rows += [(f"{op!r}" + (f" = {op.at_size(size)}" if op.at_size(size) else ""), op(x, g))
             for op in ops]
    rows.append((f"pipeline: {pipeline.spec}", pipeline(x, g)))

    n = x.shape[0]
    head = TITLE_IN if titles is not None else 0.0
    fig = Figure(figsize=(LABEL_IN + n * TILE_IN, len(rows) * TILE_IN + head), dpi=DPI)
    FigureCanvasAgg(fig)
    left = LABEL_IN / (LABEL_IN + n * TILE_IN)
    top = 1 - head / (len(rows) * TILE_IN + head)
    axes = fig.subplots(len(rows), n, squeeze=False,
                        gridspec_kw={"left": left, "right": 1, "bottom": 0, "top": top,
                                     "wspace": 0.03, "hspace": 0.03})
    for r, (label, batch) in enumerate(rows):
        for c in range(n):
            ax = axes[r][c]
            ax.imshow(batch[c, 0].float().numpy(), cmap="gray", vmin=0.0, vmax=1.0,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        if r == 0 and titles is not None:
            for c in range(n):
                axes[0][c].set_title(textwrap.fill(titles[c], 22), fontsize=7)
        axes[r][0].set_ylabel(textwrap.fill(label, 28), fontsize=7, rotation=0, ha="right",
                              va="center")

    return save_png(fig, Path(path), dpi=DPI)
