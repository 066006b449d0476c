"""Two independently augmented views of one batch, as contrastive and self-distillation
methods need (SimCLR, Chen et al. 2020; BYOL, Grill et al. 2020)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from medaug.augment.base import fresh_generator, to_params
from medaug.augment.pipeline import Pipeline


class TwoViews(nn.Module):
    """Make two views of a batch, each drawn independently from the *original* images.

    Args:
        pipeline: the augmentation of the first view.
        second: the augmentation of the second view (BYOL's asymmetric pipelines); the same as
            ``pipeline`` when omitted.

    ``forward(x, generator)`` equals ``(pipeline(x, generator), second(x, generator))``, drawn in
    that order from the one generator: every sample of each view gets its own parameters, and
    the second view is never computed from the first.
    """

    def __init__(self, pipeline: Pipeline, second: Pipeline | None = None) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.second = second

    def forward(self, x: Tensor, generator: torch.Generator | None = None
                ) -> tuple[Tensor, Tensor]:
        """Views of ``x`` ``(B, 1, H, W)``: two tensors ``(B, 1, H, W)``."""
        generator = generator if generator is not None else fresh_generator()
        second = self.pipeline if self.second is None else self.second
        hosts = self.pipeline.sample_host(x, generator)
        n = len(hosts)
        params = to_params(hosts + second.sample_host(x, generator), x.device)  # one copy
        return self.pipeline.apply(x, params[:n]), second.apply(x, params[n:])
