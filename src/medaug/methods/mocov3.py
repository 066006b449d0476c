"""MoCo v3 (Chen, Xie and He 2021, "An Empirical Study of Training Self-Supervised Vision
Transformers"): a query network (backbone, 3-layer projector and 2-layer predictor, batch norm
in every layer) and a key network, the momentum copy of backbone and projector, whose momentum
follows the base's cosine schedule from ``momentum_base`` (0.99, solo-learn's small-image
setting) to 1. The loss is contrastive between one view's prediction (query) and the other
view's key with the batch's other samples as negatives, symmetrised: lightly's
``NTXentLoss(memory_bank_size=0)`` on ``(query_i, key_j)`` averaged over both orders (over every
ordered pair of distinct views when there are more than two)."""

from __future__ import annotations

from typing import Any

import torch
from lightly.loss import NTXentLoss
from lightly.models.modules.heads import MoCoProjectionHead, ProjectionHead
from torch import Tensor, nn

from medaug.errors import ConfigError
from medaug.methods.base import SSLMethod, check_views, momentum_copy, register_method


def mocov3_prediction_head(input_dim: int, hidden_dim: int, output_dim: int) -> ProjectionHead:
    """MoCo v3's 2-layer predictor: Linear-BN-ReLU, then a Linear without BN (the official
    ResNet code's ``_build_mlp(2, dim, mlp_dim, dim, last_bn=False)``); lightly 1.6 has no
    MoCo v3 prediction head, so it is built from lightly's :class:`ProjectionHead` blocks."""
    return ProjectionHead([(input_dim, hidden_dim, nn.BatchNorm1d(hidden_dim), nn.ReLU()),
                           (hidden_dim, output_dim, None, None)])


@register_method("mocov3")
class MoCoV3(SSLMethod):
    """MoCo v3 on :class:`~medaug.methods.base.SSLMethod`.

    Args:
        temperature: NT-Xent temperature (0.2: solo-learn's CIFAR/ResNet setting and the
            paper's ViT setting; the official ResNet-50 recipe uses 1.0).
        proj_hidden: hidden width of projector and predictor (4096 in the paper).
        proj_dim: output width of projector and predictor (256 in the paper).
        proj_layers: layers of the projector (3 in the paper: lightly's
            ``MoCoProjectionHead(num_layers=3, batch_norm=True)``).
        pred_hidden: hidden width of the predictor (default: ``proj_hidden``).
        momentum_base: key-network momentum at step 0; it rises to 1 by the last step.
        gather_distributed: gather negatives from every process under DDP (lightly's option);
            switched on by the trainer when it runs on several processes.
        **base: backbone, views, optim, seed (see the base class).
    """

    def __init__(self, temperature: float = 0.2, proj_hidden: int = 4096, proj_dim: int = 256,
                 proj_layers: int = 3, pred_hidden: int | None = None,
                 momentum_base: float = 0.99, gather_distributed: bool = False,
                 **base: Any) -> None:
        super().__init__(momentum_base=momentum_base, **base)
        if temperature <= 0:
            raise ConfigError(f"mocov3: temperature must be > 0, got {temperature}")
        if proj_layers < 2:
            raise ConfigError(f"mocov3: proj_layers must be >= 2, got {proj_layers}")
        self.temperature = temperature
        self.projection = MoCoProjectionHead(self.feature_dim, proj_hidden, proj_dim,
                                             num_layers=proj_layers, batch_norm=True)
        self.prediction = mocov3_prediction_head(proj_dim, pred_hidden or proj_hidden, proj_dim)
        self.target_backbone = momentum_copy(self.backbone)
        self.target_projection = momentum_copy(self.projection)
        self.criterion = NTXentLoss(temperature=temperature, memory_bank_size=0,
                                    gather_distributed=gather_distributed)

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.backbone, self.target_backbone),
                (self.projection, self.target_projection)]

    def _online(self, x: Tensor) -> tuple[Tensor, Tensor]:
        z = self.projection(self.backbone(x))  # (B, P)
        return z, self.prediction(z)  # (B, P)

    @torch.no_grad()
    def _key(self, x: Tensor) -> Tensor:
        return self.target_projection(self.target_backbone(x)).detach()  # (B, P)

    def views_loss(self, views: list[Tensor]) -> tuple[Tensor, Tensor]:
        """``(NTXent(q_0, k_1) + NTXent(q_1, k_0)) / 2`` for two views ``(B, 1, S, S)``, with
        ``q`` the online predictions and ``k`` the momentum projections (the mean over the
        ``n (n - 1)`` ordered pairs of ``n`` views); embeddings are the first view's online
        projections ``(B, proj_dim)``."""
        check_views("mocov3", views)
        online = [self._online(v) for v in views]
        keys = [self._key(v) for v in views]
        pairs = [self.criterion(q, keys[j]) for i, (_, q) in enumerate(online)
                 for j in range(len(views)) if j != i]
        return torch.stack(pairs).mean(), online[0][0]
