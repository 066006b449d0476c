"""SimCLR (Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual
Representations"): a projection MLP on the backbone and the NT-Xent loss over the ``2B`` views
of a batch, the other ``2B - 2`` views serving as negatives. With more than two views the loss
is the mean NT-Xent over every pair of views."""

from __future__ import annotations

from typing import Any

from lightly.loss import NTXentLoss
from lightly.models.modules.heads import SimCLRProjectionHead
from torch import Tensor

from medaug.errors import ConfigError
from medaug.methods.base import SSLMethod, check_views, mean_over_pairs, register_method


@register_method("simclr")
class SimCLR(SSLMethod):
    """SimCLR on :class:`~medaug.methods.base.SSLMethod`.

    Args:
        temperature: NT-Xent temperature (0.2 as in solo-learn's and MoCo v2's small-image
            settings; the paper used 0.5 on CIFAR-10 and 0.1 on ImageNet).
        proj_hidden: hidden width of the 2-layer projection MLP (default: the feature width,
            as in the paper).
        proj_dim: output width of the projection (128 in the paper).
        gather_distributed: gather negatives from every process under DDP (lightly's option);
            switched on by the trainer when it runs on several processes.
        **base: backbone, views, optim, seed (see the base class).
    """

    def __init__(self, temperature: float = 0.2, proj_hidden: int | None = None,
                 proj_dim: int = 128, gather_distributed: bool = False, **base: Any) -> None:
        super().__init__(**base)
        if temperature <= 0:
            raise ConfigError(f"simclr: temperature must be > 0, got {temperature}")
        hidden = proj_hidden or self.feature_dim
        self.projection = SimCLRProjectionHead(self.feature_dim, hidden, proj_dim)
        self.criterion = NTXentLoss(temperature=temperature,
                                    gather_distributed=gather_distributed)
        self.temperature = temperature

    def views_loss(self, views: list[Tensor]) -> tuple[Tensor, Tensor]:
        """NT-Xent of the projections of two views ``(B, 1, S, S)`` (the mean over pairs of
        views when there are more); embeddings are the first view's projections
        ``(B, proj_dim)``."""
        check_views("simclr", views)
        z = [self.projection(self.backbone(v)) for v in views]  # each (B, P)
        return mean_over_pairs(self.criterion, z), z[0]
