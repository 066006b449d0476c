"""SimSiam (Chen and He 2021, "Exploring Simple Siamese Representation Learning"): a 3-layer
projector ``f`` and a 2-layer predictor ``h``; the loss is the symmetrised negative cosine
similarity ``D(p_1, stopgrad(z_2)) / 2 + D(p_2, stopgrad(z_1)) / 2`` (the mean over every
ordered pair of distinct views when there are more than two). As in the paper, the predictor
trains at a fixed learning rate (the peak rate, not decayed), through :meth:`param_groups`."""

from __future__ import annotations

from typing import Any

import torch
from lightly.loss import NegativeCosineSimilarity
from lightly.models.modules.heads import SimSiamPredictionHead, SimSiamProjectionHead
from torch import Tensor

from medaug.errors import ConfigError
from medaug.methods.base import SSLMethod, check_views, register_method
from medaug.methods.optim import trainable_groups


@register_method("simsiam")
class SimSiam(SSLMethod):
    """SimSiam on :class:`~medaug.methods.base.SSLMethod`.

    Args:
        proj_hidden: hidden width of the projector (2048 in the paper).
        proj_dim: output width of projector and predictor (2048 in the paper).
        pred_hidden: hidden (bottleneck) width of the predictor (512 in the paper).
        predictor_lr: the predictor's fixed learning rate (default: the run's peak rate, the
            paper's "fix lr" of the predictor).
        fixed_predictor_lr: keep the predictor's rate fixed (the paper); ``False`` schedules it
            with the rest.
        **base: backbone, views, optim, seed (see the base class).
    """

    def __init__(self, proj_hidden: int = 2048, proj_dim: int = 2048, pred_hidden: int = 512,
                 predictor_lr: float | None = None, fixed_predictor_lr: bool = True,
                 **base: Any) -> None:
        super().__init__(**base)
        if predictor_lr is not None and predictor_lr <= 0:
            raise ConfigError(f"simsiam: predictor_lr must be > 0, got {predictor_lr}")
        self.projection = SimSiamProjectionHead(self.feature_dim, proj_hidden, proj_dim)
        self.prediction = SimSiamPredictionHead(proj_dim, pred_hidden, proj_dim)
        self.criterion = NegativeCosineSimilarity()
        self.predictor_lr = predictor_lr
        self.fixed_predictor_lr = fixed_predictor_lr

    def views_loss(self, views: list[Tensor]) -> tuple[Tensor, Tensor]:
        """``(D(p_0, z_1) + D(p_1, z_0)) / 2`` with ``D`` the negative cosine similarity and the
        projections ``z`` detached, in ``[-1, 1]`` (the mean over ordered pairs of more views);
        embeddings are the first view's projections ``(B, proj_dim)``."""
        check_views("simsiam", views)
        z = [self.projection(self.backbone(v)) for v in views]  # each (B, P)
        p = [self.prediction(zi) for zi in z]  # each (B, P)
        pairs = [self.criterion(p[i], z[j].detach()) for i in range(len(views))
                 for j in range(len(views)) if j != i]
        return torch.stack(pairs).mean(), z[0]

    def param_groups(self) -> list[dict[str, Any]]:
        """The base's groups without the predictor, then the predictor's group at a fixed
        ``lr`` (``predictor_lr``, else the peak rate; scheduled with the rest when
        ``fixed_predictor_lr`` is false)."""
        predictor = [p for p in self.prediction.parameters() if p.requires_grad]
        ids = {id(p) for p in predictor}
        groups = []
        for group in trainable_groups(self, self.optim.decay_norm_bias):
            groups.append({**group, "params": [p for p in group["params"] if id(p) not in ids]})
        if not self.fixed_predictor_lr:
            return [*groups, {"params": predictor, "name": "predictor"}]
        rate = self.predictor_lr if self.predictor_lr is not None else self.peak_lr()
        return [*groups, {"params": predictor, "lr": rate, "name": "predictor"}]

