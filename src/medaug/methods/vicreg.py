"""VICReg (Bardes, Ponce and LeCun 2022, "VICReg: Variance-Invariance-Covariance
Regularization for Self-Supervised Learning"): a 3-layer expander and a loss of three terms on
the two views' embeddings: invariance (mean squared distance between the views, weight
``sim``), variance (a hinge keeping each dimension's standard deviation over the batch at 1 or
more, weight ``var``) and covariance (the squared off-diagonal covariances, weight ``cov``). No
negatives, no momentum encoder. With more than two views the loss is the mean over every pair of
views. Loss and expander are lightly's ``VICRegLoss`` (``lambda_param=sim, mu_param=var,
nu_param=cov``) and ``VICRegProjectionHead``."""

from __future__ import annotations

from typing import Any, ClassVar

from lightly.loss import VICRegLoss
from lightly.models.modules.heads import VICRegProjectionHead
from torch import Tensor

from medaug.errors import ConfigError
from medaug.methods.base import SSLMethod, check_views, mean_over_pairs, register_method


@register_method("vicreg")
class VICReg(SSLMethod):
    """VICReg on :class:`~medaug.methods.base.SSLMethod`.

    The expander is Linear-BN-ReLU, Linear-BN-ReLU, Linear (``D -> proj_hidden -> proj_hidden
    -> proj_dim``); each view ``(B, 1, S, S)`` becomes features ``(B, D)`` and embeddings
    ``(B, proj_dim)``, on which the three terms are computed (variance and covariance over the
    batch, so ``B >= 2``).

    Args:
        sim: weight of the invariance term (25, the paper's ``lambda``; lightly's
            ``lambda_param``).
        var: weight of the variance term (25, the paper's ``mu``; lightly's ``mu_param``).
        cov: weight of the covariance term (1, the paper's ``nu``; lightly's ``nu_param``).
            The three weights are the paper's and solo-learn's CIFAR settings alike.
        proj_hidden: hidden width of the expander (2048: solo-learn's CIFAR/ResNet-18
            setting; the paper's ImageNet expander is 8192 wide).
        proj_dim: output width of the expander (2048 as in solo-learn; 8192 in the paper).
        gather_distributed: compute the variance and covariance terms over every process's
            batch under DDP (lightly's option); switched on by the trainer when it runs on
            several processes.
        **base: backbone, views, optim, seed (see the base class).
    """

    #: Smoke-test settings of a tiny batch, not recommendations (see the base class).
    SMOKE_ARGS: ClassVar[dict[str, Any]] = {"proj_hidden": 64, "proj_dim": 64}

    def __init__(self, sim: float = 25.0, var: float = 25.0, cov: float = 1.0,
                 proj_hidden: int = 2048, proj_dim: int = 2048,
                 gather_distributed: bool = False, **base: Any) -> None:
        super().__init__(**base)
        for key, value in (("sim", sim), ("var", var), ("cov", cov)):
            if value < 0:
                raise ConfigError(f"vicreg: {key} must be >= 0, got {value}")
        self.sim, self.var, self.cov = sim, var, cov
        self.projection = VICRegProjectionHead(self.feature_dim, proj_hidden, proj_dim)
        self.criterion = VICRegLoss(lambda_param=sim, mu_param=var, nu_param=cov,
                                    gather_distributed=gather_distributed)

    def views_loss(self, views: list[Tensor]) -> tuple[Tensor, Tensor]:
        """VICReg loss of the embeddings of two views ``(B, 1, S, S)``, ``B >= 2`` (the mean
        over pairs of views when there are more); embeddings are the first view's
        ``(B, proj_dim)``."""
        check_views("vicreg", views, "variance and covariance are taken over the batch")
        z = [self.projection(self.backbone(v)) for v in views]  # each (B, P)
        return mean_over_pairs(self.criterion, z), z[0]
