"""BYOL (Grill et al. 2020, "Bootstrap Your Own Latent"): an online network (backbone,
projector, predictor) regresses a target network's projection of the other view; the target is
an exponential moving average of the online backbone and projector whose momentum follows a
cosine schedule from ``momentum_base`` (0.99 here; 0.996 in the paper's ImageNet runs) to 1.
The loss is symmetric: both views take both roles (with more views, every view's prediction
regresses every other view's target). The schedule itself is the base's."""

from __future__ import annotations

from typing import Any

import torch
from lightly.loss import NegativeCosineSimilarity
from lightly.models.modules.heads import BYOLPredictionHead, BYOLProjectionHead
from torch import Tensor, nn

from medaug.methods.base import SSLMethod, check_views, momentum_copy, register_method


@register_method("byol")
class BYOL(SSLMethod):
    """BYOL on :class:`~medaug.methods.base.SSLMethod`.

    Args:
        proj_hidden: hidden width of projector and predictor (4096 in the paper).
        proj_dim: output width of projector and predictor (256 in the paper).
        momentum_base: target momentum at step 0; it rises to 1 by the last step.
        **base: backbone, views, optim, seed (see the base class).
    """

    def __init__(self, proj_hidden: int = 4096, proj_dim: int = 256,
                 momentum_base: float = 0.99, **base: Any) -> None:
        super().__init__(momentum_base=momentum_base, **base)
        self.projection = BYOLProjectionHead(self.feature_dim, proj_hidden, proj_dim)
        self.prediction = BYOLPredictionHead(proj_dim, proj_hidden, proj_dim)
        self.target_backbone = momentum_copy(self.backbone)
        self.target_projection = momentum_copy(self.projection)
        self.criterion = NegativeCosineSimilarity()

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.backbone, self.target_backbone),
                (self.projection, self.target_projection)]

    def _online(self, x: Tensor) -> tuple[Tensor, Tensor]:
        z = self.projection(self.backbone(x))  # (B, P)
        return z, self.prediction(z)  # (B, P)

    @torch.no_grad()
    def _target(self, x: Tensor) -> Tensor:
        return self.target_projection(self.target_backbone(x)).detach()  # (B, P)

    def views_loss(self, views: list[Tensor]) -> tuple[Tensor, Tensor]:
        """Symmetrised negative cosine similarity between each view's prediction and the
        other view's target projection, in ``[-2, 2]`` (``-2`` when they align; with ``n``
        views, twice the mean over the ``n (n - 1)`` ordered pairs); embeddings are the first
        view's online projections ``(B, proj_dim)``."""
        check_views("byol", views)
        online = [self._online(v) for v in views]
        targets = [self._target(v) for v in views]
        if len(views) == 2:
            loss = self.criterion(online[0][1], targets[1]) + self.criterion(online[1][1],
                                                                              targets[0])
        else:
            pairs = [self.criterion(p, targets[j]) for i, (_, p) in enumerate(online)
                     for j in range(len(views)) if j != i]
            loss = 2 * torch.stack(pairs).mean()
        return loss, online[0][0]
