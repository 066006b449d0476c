"""BYOL (Grill et al. 2020, "Bootstrap Your Own Latent"): an online network (backbone,
projector, predictor) regresses a target network's projection of the other view; the target is
an exponential moving average of the online backbone and projector whose momentum follows a
cosine schedule from ``momentum_base`` (0.99 here; 0.996 in the paper's ImageNet runs) to 1.
The loss is symmetric: both views take both roles."""

from __future__ import annotations

import copy
from typing import Any

import torch
from lightly.loss import NegativeCosineSimilarity
from lightly.models.modules.heads import BYOLPredictionHead, BYOLProjectionHead
from lightly.models.utils import deactivate_requires_grad
from lightly.utils.scheduler import cosine_schedule
from torch import Tensor, nn

from medaug.errors import ConfigError
from medaug.methods.base import SSLMethod, register_method


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
        super().__init__(**base)
        if not 0.0 <= momentum_base <= 1.0:
            raise ConfigError(f"byol: momentum_base must be in [0, 1], got {momentum_base}")
        self.projection = BYOLProjectionHead(self.feature_dim, proj_hidden, proj_dim)
        self.prediction = BYOLPredictionHead(proj_dim, proj_hidden, proj_dim)
        self.target_backbone = copy.deepcopy(self.backbone)
        self.target_projection = copy.deepcopy(self.projection)
        deactivate_requires_grad(self.target_backbone)
        deactivate_requires_grad(self.target_projection)
        self.criterion = NegativeCosineSimilarity()
        self.momentum_base = momentum_base

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.backbone, self.target_backbone),
                (self.projection, self.target_projection)]

    def momentum_at(self, step: int) -> float:
        """Cosine schedule from ``momentum_base`` at step 0 to 1 at the last step (lightly's
        ``cosine_schedule``)."""
        return cosine_schedule(step, self.total_steps(), self.momentum_base, 1.0)

    def _online(self, x: Tensor) -> tuple[Tensor, Tensor]:
        z = self.projection(self.backbone(x))  # (B, P)
        return z, self.prediction(z)  # (B, P)

    @torch.no_grad()
    def _target(self, x: Tensor) -> Tensor:
        return self.target_projection(self.target_backbone(x)).detach()  # (B, P)

    def views_loss(self, view1: Tensor, view2: Tensor) -> tuple[Tensor, Tensor]:
        """Symmetrised negative cosine similarity between each view's prediction and the
        other view's target projection, in ``[-2, 2]`` (``-2`` when they align); embeddings
        are the first view's online projections ``(B, proj_dim)``."""
        z1, p1 = self._online(view1)
        _, p2 = self._online(view2)
        t1, t2 = self._target(view1), self._target(view2)
        loss = self.criterion(p1, t2) + self.criterion(p2, t1)
        return loss, z1
