"""Several independently augmented views of one batch: two views as contrastive and
self-distillation methods need (SimCLR, Chen et al. 2020; BYOL, Grill et al. 2020), or
multi-crop (Caron et al. 2020, SwAV; DINO): a few global views at the cache's size and more
local views resized to a smaller one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from medaug.augment.base import fresh_generator, to_params
from medaug.augment.pipeline import Pipeline
from medaug.errors import AugmentError


@dataclass(frozen=True)
class ViewSpec:
    """``count`` views drawn by ``pipeline``, each resized to ``size`` x ``size`` after the
    augmentation (``None`` keeps the input's size)."""

    pipeline: Pipeline
    count: int = 1
    size: int | None = None


class MultiViews(nn.Module):
    """Make views of a batch, each drawn independently from the *original* images.

    Args:
        specs: the kinds of view, in order (e.g. 2 global views, then 6 local views at 24 px).

    ``forward(x, generator)`` is the list of every spec's ``count`` views, in order; all
    parameters are drawn first from the one generator (view by view, in that order), every
    sample of each view gets its own, and no view is computed from another. ``x`` holds
    ``P`` images per sample ``(B, P, H, W)``: ``P = 1`` is the usual case (every view of the
    one image); with ``P = 2`` (positives from two images of one patient or study,
    ``medaug pretrain --positives``) view ``j`` is drawn from image ``j mod P``: the first
    global view from the image, the second from its partner, local views alternating.

    Raises:
        AugmentError: no views, a count below 1 or a size below 1.
    """

    def __init__(self, specs: Sequence[ViewSpec]) -> None:
        super().__init__()
        specs = list(specs)
        if not specs or any(s.count < 1 or (s.size is not None and s.size < 1) for s in specs):
            raise AugmentError(f"views need at least one kind, each with count >= 1 and size "
                               f">= 1, got {[(s.count, s.size) for s in specs]}")
        self.pipelines = nn.ModuleList(s.pipeline for s in specs)
        self.plan = [(i, s.size) for i, s in enumerate(specs) for _ in range(s.count)]

    def __len__(self) -> int:
        return len(self.plan)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> list[Tensor]:
        """Views of ``x`` ``(B, P, H, W)`` (``P`` images per sample, usually 1): tensors
        ``(B, 1, size, size)`` (``(B, 1, H, W)`` where no size is given)."""
        generator = generator if generator is not None else fresh_generator()
        sources = [x[:, p:p + 1] for p in range(x.shape[1])]
        hosts, bounds = [], []
        for j, (i, _) in enumerate(self.plan):
            start = len(hosts)
            hosts += self.pipelines[i].sample_host(sources[j % len(sources)], generator)
            bounds.append((start, len(hosts)))
        params = to_params(hosts, x.device)  # one copy for every view
        views = []
        for j, ((i, size), (a, b)) in enumerate(zip(self.plan, bounds, strict=True)):
            view = self.pipelines[i].apply(sources[j % len(sources)], params[a:b])
            if size is not None and tuple(view.shape[-2:]) != (size, size):
                view = F.interpolate(view, size=(size, size), mode="bilinear",
                                     align_corners=False, antialias=True)
            views.append(view)
        return views


class TwoViews(MultiViews):
    """Two views of the input's size: the special case of :class:`MultiViews`.

    Args:
        pipeline: the augmentation of the first view.
        second: the augmentation of the second view (BYOL's asymmetric pipelines); the same as
            ``pipeline`` when omitted.

    ``forward(x, generator)`` equals ``(pipeline(x, generator), second(x, generator))``, drawn in
    that order from the one generator: every sample of each view gets its own parameters, and
    the second view is never computed from the first.
    """

    def __init__(self, pipeline: Pipeline, second: Pipeline | None = None) -> None:
        super().__init__([ViewSpec(pipeline, count=2)] if second is None
                         else [ViewSpec(pipeline), ViewSpec(second)])
        self.pipeline = pipeline
        self.second = second

    def forward(self, x: Tensor, generator: torch.Generator | None = None  # type: ignore[override]
                ) -> tuple[Tensor, Tensor]:
        """Views of ``x`` ``(B, 1, H, W)``: two tensors ``(B, 1, H, W)``."""
        first, second = super().forward(x, generator)
        return first, second
