"""Barlow Twins (Zbontar, Jing, Misra, LeCun and Deny 2021, "Barlow Twins: Self-Supervised
Learning via Redundancy Reduction"): a 3-layer projector and a loss on the cross-correlation
matrix of the two views' batch-standardised projections, pushing its diagonal to 1 (invariance)
and its off-diagonal entries to 0 (redundancy reduction, weighted by ``lambda_param``). No
negatives, no momentum encoder, no predictor. With more than two views the loss is the mean
over every pair of views. Loss and projector are lightly's ``BarlowTwinsLoss`` and
``BarlowTwinsProjectionHead``."""

from __future__ import annotations

from typing import Any, ClassVar

from lightly.loss import BarlowTwinsLoss
from lightly.models.modules.heads import BarlowTwinsProjectionHead
from torch import Tensor

from medaug.errors import ConfigError
from medaug.methods.base import SSLMethod, check_views, mean_over_pairs, register_method


@register_method("barlowtwins")
class BarlowTwins(SSLMethod):
    """Barlow Twins on :class:`~medaug.methods.base.SSLMethod`.

    The projector is Linear-BN-ReLU, Linear-BN-ReLU, Linear (``D -> proj_hidden ->
    proj_hidden -> proj_dim``); each view ``(B, 1, S, S)`` becomes features ``(B, D)`` and
    projections ``(B, proj_dim)``; the loss builds the ``(proj_dim, proj_dim)``
    cross-correlation matrix of two views' projections, each standardised over the batch.

    Args:
        lambda_param: weight of the off-diagonal (redundancy reduction) term (5e-3, the
            paper's value and lightly's default; the official code uses 5.1e-3).
        proj_hidden: hidden width of the projector (2048: solo-learn's CIFAR/ResNet-18
            setting; the paper's ImageNet projector is 8192 wide).
        proj_dim: output width of the projector (2048 as in solo-learn's small-image setting;
            8192 in the paper). The loss is summed over this many dimensions, so its size
            grows with ``proj_dim``.
        gather_distributed: sum the cross-correlation matrices of every process under DDP
            (lightly's option); switched on by the trainer when it runs on several processes.
        **base: backbone, views, optim, seed (see the base class).
    """

    #: Smoke-test settings of a tiny batch, not recommendations (see the base class).
    SMOKE_ARGS: ClassVar[dict[str, Any]] = {"proj_hidden": 64, "proj_dim": 64}

    def __init__(self, lambda_param: float = 5e-3, proj_hidden: int = 2048,
                 proj_dim: int = 2048, gather_distributed: bool = False, **base: Any) -> None:
        super().__init__(**base)
        if lambda_param < 0:
            raise ConfigError(f"barlowtwins: lambda_param must be >= 0, got {lambda_param}")
        self.lambda_param = lambda_param
        self.projection = BarlowTwinsProjectionHead(self.feature_dim, proj_hidden, proj_dim)
        self.criterion = BarlowTwinsLoss(lambda_param=lambda_param,
                                         gather_distributed=gather_distributed)

    def views_loss(self, views: list[Tensor]) -> tuple[Tensor, Tensor]:
        """Barlow Twins loss of the projections of two views ``(B, 1, S, S)`` (the mean over
        pairs of views when there are more; ``B >= 2``, the projections are standardised over
        the batch); embeddings are the first view's projections ``(B, proj_dim)``."""
        check_views("barlowtwins", views, "projections are standardised over the batch")
        z = [self.projection(self.backbone(v)) for v in views]  # each (B, P)
        return mean_over_pairs(self.criterion, z), z[0]
