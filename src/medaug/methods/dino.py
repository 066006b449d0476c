"""DINO (Caron, Touvron, Misra, Jégou, Mairal, Bojanowski and Joulin 2021, "Emerging Properties
in Self-Supervised Vision Transformers"): self-distillation without labels. A student
(backbone and DINO head: a 3-layer MLP to a bottleneck, l2 normalisation and a weight-normalised
layer to ``output_dim`` prototype logits) is trained to match, by cross-entropy, the softmax of
a teacher's logits on the other views. The teacher is the exponential moving average of the
student (the base's EMA over :meth:`DINO.momentum_pairs`; no gradient reaches it); collapse is
avoided by centring the teacher's logits (a running mean with ``center_momentum``) and
sharpening them (a teacher temperature below the student's, warmed up linearly over the first
epochs). The teacher sees the two global views, the student every view, the multi-crop local
ones included (``--local-crops``); the cross-entropy pairs each teacher view with every
student view but itself. The weight-normalised last layer stays frozen during the first
``freeze_last_layer`` epochs (lightly's ``cancel_last_layer_gradients``). The teacher's mean
entropy is logged as ``teacher_entropy``: it falls from ``log(output_dim)``, and nearing 0 (one
prototype for everything) or staying at ``log(output_dim)`` (uniform) signals collapse. Loss and
head are lightly's ``DINOLoss`` and ``DINOProjectionHead``."""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from lightly.loss import DINOLoss
from lightly.models.modules.heads import DINOProjectionHead
from lightly.models.utils import deactivate_requires_grad
from torch import Tensor, nn

from medaug.errors import ConfigError
from medaug.methods.base import SSLMethod, check_views, momentum_copy, register_method


@register_method("dino")
class DINO(SSLMethod):
    """DINO on :class:`~medaug.methods.base.SSLMethod`.

    Shapes: each view ``(B, 1, S_i, S_i)`` (the first two global, at the image size; the rest
    local, smaller) becomes backbone features ``(B, D)``, a bottleneck ``(B, proj_dim)`` and
    logits ``(B, output_dim)``; the loss takes the teacher's logits of the 2 global views and
    the student's of all ``n`` views.

    Args:
        output_dim: number of prototypes ``K``, the width of the logits (4096: solo-learn's
            CIFAR/ResNet-18 setting; the paper uses 65536 on ImageNet, far more than a
            medical data set of a few thousand images can fill).
        proj_hidden: hidden width of the head's MLP (2048, the paper's and solo-learn's).
        proj_dim: bottleneck width before the last layer (256, the paper's and solo-learn's).
        batch_norm: batch norm in the head's MLP (off, the paper's ``use_bn_in_head``
            default).
        norm_last_layer: keep the last layer's weight norm fixed at 1 (the paper's default,
            more stable; ``False`` may train better but can be unstable).
        freeze_last_layer: epochs during which the last layer gets no update (1, the
            paper's).
        teacher_temp: teacher temperature after the warm-up (0.04, the paper's default;
            0.07 helps when the loss does not fall, the paper's advice).
        warmup_teacher_temp: teacher temperature at epoch 0 (0.04, the paper's).
        warmup_teacher_temp_epochs: epochs of the linear warm-up from
            ``warmup_teacher_temp`` to ``teacher_temp`` (30, the paper's ViT recipe and
            lightly's default; no effect while the two temperatures are equal).
        student_temp: student temperature (0.1, the paper's).
        center_momentum: momentum of the teacher-logit centre (0.9, the paper's).
        momentum_base: teacher momentum at step 0; the base's cosine schedule raises it to 1
            by the last step (0.996, the paper's; solo-learn uses 0.9995 on CIFAR).
        **base: backbone, views, optim, seed (see the base class).
    """

    #: Smoke-test settings of a tiny batch, not recommendations (see the base class).
    SMOKE_ARGS: ClassVar[dict[str, Any]] = {"output_dim": 256, "proj_hidden": 256,
                                            "proj_dim": 64}

    def __init__(self, output_dim: int = 4096, proj_hidden: int = 2048, proj_dim: int = 256,
                 batch_norm: bool = False, norm_last_layer: bool = True,
                 freeze_last_layer: int = 1, teacher_temp: float = 0.04,
                 warmup_teacher_temp: float = 0.04, warmup_teacher_temp_epochs: int = 30,
                 student_temp: float = 0.1, center_momentum: float = 0.9,
                 momentum_base: float = 0.996, **base: Any) -> None:
        super().__init__(momentum_base=momentum_base, **base)
        for key, value in (("teacher_temp", teacher_temp),
                           ("warmup_teacher_temp", warmup_teacher_temp),
                           ("student_temp", student_temp)):
            if value <= 0:
                raise ConfigError(f"dino: {key} must be > 0, got {value}")
        if not 0.0 <= center_momentum <= 1.0:
            raise ConfigError(f"dino: center_momentum must be in [0, 1], got {center_momentum}")
        if output_dim < 2 or warmup_teacher_temp_epochs < 0:
            raise ConfigError("dino: output_dim must be >= 2 and warmup_teacher_temp_epochs "
                              f">= 0, got {output_dim} and {warmup_teacher_temp_epochs}")

        def head(freeze: int) -> DINOProjectionHead:
            with warnings.catch_warnings():  # lightly 1.6 uses torch's deprecated weight_norm
                warnings.filterwarnings("ignore", "`torch.nn.utils.weight_norm` is deprecated",
                                        FutureWarning)
                return DINOProjectionHead(self.feature_dim, proj_hidden, proj_dim, output_dim,
                                          batch_norm=batch_norm, freeze_last_layer=freeze,
                                          norm_last_layer=norm_last_layer)

        self.head = head(freeze_last_layer)
        self.teacher_backbone = momentum_copy(self.backbone)
        # A weight-normalised layer does not deepcopy; the teacher starts as the student.
        self.teacher_head = head(-1)
        self.teacher_head.load_state_dict(self.head.state_dict())
        deactivate_requires_grad(self.teacher_head)
        self.criterion = DINOLoss(output_dim, warmup_teacher_temp=warmup_teacher_temp,
                                  teacher_temp=teacher_temp,
                                  warmup_teacher_temp_epochs=warmup_teacher_temp_epochs,
                                  student_temp=student_temp, center_momentum=center_momentum)
        self.freeze_last_layer = freeze_last_layer
        self._entropy: Tensor | None = None

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.backbone, self.teacher_backbone), (self.head, self.teacher_head)]

    def _student(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Bottleneck ``(B, proj_dim)`` and logits ``(B, output_dim)`` of the student: what
        ``self.head(self.backbone(x))`` computes, keeping the bottleneck on the way."""
        z = self.head.layers(self.backbone(x))  # (B, proj_dim)
        return z, self.head.last_layer(F.normalize(z, dim=-1, p=2))  # (B, K)

    @torch.no_grad()
    def _teacher(self, x: Tensor) -> Tensor:
        return self.teacher_head(self.teacher_backbone(x)).detach()  # (B, K)

    def teacher_temperature(self, epoch: int) -> float:
        """The teacher temperature at ``epoch`` (``DINOLoss``'s warm-up schedule)."""
        c = self.criterion
        if epoch < c.warmup_teacher_temp_epochs:
            return float(c.teacher_temp_schedule[epoch])
        return float(c.teacher_temp)

    @torch.no_grad()
    def teacher_entropy(self, teacher_out: list[Tensor], epoch: int) -> Tensor:
        """Mean entropy (nats, in ``[0, log K]``) of the teacher's targets: the softmax of
        the centred logits ``(B, K)`` of each view at the teacher temperature of
        ``epoch``."""
        logits = (torch.stack(teacher_out) - self.criterion.center)  # (T, B, K)
        logp = F.log_softmax(logits / self.teacher_temperature(epoch), dim=-1)
        return -(logp.exp() * logp).sum(-1).mean()

    def views_loss(self, views: list[Tensor]) -> tuple[Tensor, Tensor]:
        """``DINOLoss`` of the teacher's logits of the two global views (the first two) and the
        student's of every view (each teacher view against every other student view), at
        the current epoch's teacher temperature; it moves the centre. Embeddings are the first
        view's student bottleneck ``(B, proj_dim)``."""
        check_views("dino", views)
        epoch = self.current_epoch
        teacher = [self._teacher(v) for v in views[:2]]  # 2 x (B, K)
        student = [self._student(v) for v in views]  # n x ((B, proj_dim), (B, K))
        self._entropy = self.teacher_entropy(teacher, epoch)  # before the centre moves
        loss = self.criterion(teacher, [logits for _, logits in student], epoch=epoch)
        return loss, student[0][0]

    EPOCH_METRICS: ClassVar[tuple[str, ...]] = ("teacher_entropy",)

    def collapse_warnings(self, row: dict[str, Any]) -> list[str]:
        """A teacher entropy under a tenth of ``log(output_dim)`` (every image on one
        prototype), or above 98 % of it after the first epoch (uniform targets: nothing
        learnt), is collapse."""
        entropy = float(row.get("teacher_entropy", float("nan")))
        top = math.log(self.criterion.center.shape[-1])
        if entropy < 0.1 * top:
            return [f"teacher entropy {entropy:.3f} nats is near 0 (of at most {top:.2f}): "
                    "the teacher puts every image on one prototype (try a higher "
                    "teacher_temp warm-up or center_momentum)"]
        if int(row.get("epoch", 0)) >= 1 and entropy > 0.98 * top:
            return [f"teacher entropy {entropy:.3f} nats stays at its maximum {top:.2f}: "
                    "uniform targets, the student learns nothing (try a lower teacher_temp)"]
        return []

    def training_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        loss = super().training_step(batch, batch_idx)
        if self._entropy is not None:
            self.log("teacher_entropy", self._entropy, on_step=False, on_epoch=True,
                     sync_dist=True, batch_size=batch.shape[0])
        return loss

    def on_after_backward(self) -> None:
        """Drop the last layer's gradients during the first ``freeze_last_layer`` epochs."""
        self.head.cancel_last_layer_gradients(self.current_epoch)
