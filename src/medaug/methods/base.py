"""What every self-supervised method shares: backbone, multi-view augmentation on the
training device, optimiser, parameter groups and schedule, the EMA schedule of momentum
targets, NaN guard and step logging.

A method is one file in this package (found by being there: no list to edit) that subclasses
:class:`SSLMethod`, registers itself with :func:`register_method`, takes its hyper-parameters
as constructor arguments (``--method-args`` reaches them by name), builds its heads in
``__init__`` and implements :meth:`SSLMethod.views_loss` over a list of views. A method with
an EMA target declares :meth:`SSLMethod.momentum_pairs` and passes ``momentum_base`` on; the
base schedules the momentum. Batches arrive as the cache's ``uint8`` images ``(B, S, S)``; the
views are drawn here, batched, on the device the model is on, from a generator seeded by
``(seed, global step, rank)``, so a resumed run draws exactly what the uninterrupted run drew.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import lightning as L
import torch
from lightly.models.utils import deactivate_requires_grad, update_momentum
from lightly.utils.debug import std_of_l2_normalized
from lightly.utils.scheduler import cosine_schedule
from torch import Tensor, nn

from medaug.augment.views import MultiViews
from medaug.errors import ConfigError
from medaug.methods.optim import (
    OptimConfig,
    augment_batch,
    check_finite,
    configure,
    step_seed,
    trainable_groups,
)
from medaug.models.backbones import feature_dim
from medaug.models.speed import (
    channels_last_views,
    compile_modules,
    resolve_switch,
    to_channels_last,
)
from medaug.registry import Registry, module_loader, package_modules

M = TypeVar("M", bound="type[SSLMethod]")


def register_method(name: str) -> Callable[[M], M]:
    """Class decorator: make a method available under ``name`` (a duplicate is an error)."""
    return _METHODS.register(name)  # type: ignore[return-value]


def available_methods() -> list[str]:
    """Registered method names."""
    return _METHODS.names()


def create_method(name: str, **kwargs: Any) -> SSLMethod:
    """The method registered as ``name``, built with ``kwargs``.

    Raises:
        ConfigError: an unknown method name (the message lists the valid ones).
    """
    return _METHODS.lookup(name)(**kwargs)


def method_class(name: str) -> type[SSLMethod]:
    """The class registered as ``name`` (its constructor's arguments are its settings).

    Raises:
        ConfigError: an unknown method name (the message lists the valid ones).
    """
    return _METHODS.lookup(name)


class SSLMethod(L.LightningModule):
    """Base of a self-supervised method.

    Args:
        backbone: maps ``(B, 1, S, S)`` to ``(B, D)`` (:func:`medaug.models.create_backbone`).
        views: the views drawn from each batch on the training device (a
            :class:`~medaug.augment.views.TwoViews` or multi-crop
            :class:`~medaug.augment.views.MultiViews`).
        optim: optimiser and schedule.
        seed: seed of the augmentation draws (combined with the step and the rank).
        momentum_base: EMA momentum of the :meth:`momentum_pairs` targets at step 0; a cosine
            schedule raises it to 1 by the last step (``None``: the targets stay, momentum 1).
    """

    name: ClassVar[str] = ""
    #: Smoke-test settings of a tiny batch, not recommendations: constructor arguments (by
    #: name, as ``method_args``) that the registry's contract test
    #: (``tests/methods/test_contract.py``: 5 SGD steps on a batch of 8 at 16 px) passes
    #: instead of the defaults, typically narrower heads that 8 samples can train (a
    #: 2048-wide Barlow Twins projector cannot be fitted by 8 samples in 5 steps). Training
    #: never reads them; a method whose defaults suit a tiny batch leaves this empty.
    SMOKE_ARGS: ClassVar[dict[str, Any]] = {}
    #: Metrics the method logs per epoch (``self.log(..., on_epoch=True)``) beyond the base's,
    #: written as more columns of ``training.csv`` by the monitor (DINO: teacher_entropy).
    EPOCH_METRICS: ClassVar[tuple[str, ...]] = ()

    def collapse_warnings(self, row: dict[str, Any]) -> list[str]:
        """What collapse looks like for this method, read from one epoch's row of
        ``training.csv`` (its :data:`EPOCH_METRICS` included): one line per sign, none when
        healthy. The base's embedding-spread warning is the monitor's own; a method adds
        the signs of its loss (DINO: a teacher entropy near 0 or stuck at its maximum)."""
        return []

    def __init__(self, backbone: nn.Module, views: MultiViews, optim: OptimConfig | None = None,
                 seed: int = 0, momentum_base: float | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.views = views
        self.optim = optim or OptimConfig()
        self.optim.check()
        if momentum_base is not None and not 0.0 <= momentum_base <= 1.0:
            raise ConfigError(f"{self.name}: momentum_base must be in [0, 1], got "
                              f"{momentum_base}")
        self.momentum_base = momentum_base
        self.seed = int(seed)
        self.feature_dim = feature_dim(backbone)
        self.speed = ("off", "off")  # (compile, channels_last): see :meth:`set_speed`
        self._channels_last = False

    # -- what a method defines ---------------------------------------------------------------
    def views_loss(self, views: list[Tensor]) -> tuple[Tensor, Tensor]:
        """Loss of the views (``(B, 1, S_i, S_i)`` each; sizes may differ under multi-crop)
        and the embeddings ``(B, E)`` whose spread is monitored (collapse shows there
        first)."""
        raise NotImplementedError

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        """``(online, target)`` pairs updated after each step by lightly's ``update_momentum``
        (``target <- m * target + (1 - m) * online`` on parameters, ``m`` from
        :meth:`momentum_at`); none by default."""
        return []

    def param_groups(self) -> list[dict[str, Any]]:
        """Parameter groups of the optimiser (:mod:`medaug.methods.optim`: ``params`` and
        optionally ``lr_scale``, a fixed ``lr``, ``weight_decay``); by default every trainable
        parameter in one group (two when ``optim.decay_norm_bias`` is false)."""
        return trainable_groups(self, self.optim.decay_norm_bias)

    def compiled_modules(self) -> list[nn.Module]:
        """What ``compile`` compiles: the backbone, and the momentum targets paired with it
        (BYOL's and MoCo's target encoders); the heads are small and stay eager."""
        return [self.backbone, *(t for o, t in self.momentum_pairs() if o is self.backbone)]

    # -- shared machinery ----------------------------------------------------------------------
    def set_speed(self, compile: str = "off", channels_last: str = "off") -> None:
        """How the steps run (``auto``, ``on`` or ``off`` each; :mod:`medaug.models.speed`),
        applied when training starts on its device (:meth:`on_fit_start`). Neither changes
        what a step computes beyond floating-point rounding."""
        self.speed = (compile, channels_last)

    def on_fit_start(self) -> None:
        """Apply :meth:`set_speed`'s switches for the device the model is on."""
        compile, channels_last = self.speed
        if resolve_switch(channels_last, self.device):
            to_channels_last(self)
            self._channels_last = True
        if resolve_switch(compile, self.device):
            compile_modules(self.compiled_modules())

    def forward(self, x: Tensor) -> Tensor:
        """Backbone features ``(B, D)`` of images ``(B, 1, S, S)``."""
        return self.backbone(x)

    def make_views(self, images: Tensor) -> list[Tensor]:
        """Float views ``(B, 1, S_i, S_i)`` in ``[0, 1]`` of a ``uint8`` batch ``(B, S, S)``,
        drawn from a generator seeded by (seed, global step, global rank)."""
        views = list(augment_batch(self.views, images, self.device,
                                   self.view_seed(self.global_step)))
        return channels_last_views(views) if self._channels_last else views

    def view_seed(self, step: int) -> int:
        world = self.trainer.world_size if self._trainer is not None else 1
        rank = self.global_rank if self._trainer is not None else 0
        return step_seed(self.seed, step, world, rank)

    def training_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        loss, embeddings = self.views_loss(self.make_views(batch))
        with torch.no_grad():
            std = std_of_l2_normalized(embeddings.detach().float())  # 1/sqrt(E) when spread
            spread = std * math.sqrt(embeddings.shape[1])
        lr = self.trainer.optimizers[0].param_groups[0]["lr"] if self._trainer else 0.0
        b = batch.shape[0]
        self.log("loss", loss.detach(), on_step=True, on_epoch=False, prog_bar=True,
                 batch_size=b)
        self.log("epoch_loss", loss.detach(), on_step=False, on_epoch=True, sync_dist=True,
                 batch_size=b)
        self.log("lr", lr, on_step=True, on_epoch=False, prog_bar=True, batch_size=b)
        self.log("emb_std", std, on_step=False, on_epoch=True, sync_dist=True, batch_size=b)
        self.log("emb_spread", spread, on_step=False, on_epoch=True, sync_dist=True,
                 batch_size=b)
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Check the previous step's loss, keep this one for the next check, then update the
        momentum targets.

        The check lags one step so that it never waits for the GPU: by the time a step ends
        on the CPU, the step before it has finished on the device, while waiting for the
        current one would stall every step (and the next views could not be queued while the
        GPU trains). :meth:`flush_loss_check` runs at the end of each epoch, before anything
        is exported or checkpointed, so a NaN never reaches a checkpoint.
        """
        self.flush_loss_check()
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None:
            self._pending_loss = (loss.detach(), self.current_epoch, self.global_step)
        pairs = self.momentum_pairs()
        if pairs:
            m = self.momentum_at(self.global_step)
            for online, target in pairs:
                update_momentum(online, target, m)

    def on_train_epoch_end(self) -> None:
        self.flush_loss_check()

    def flush_loss_check(self) -> None:
        """Check the loss kept by the last :meth:`on_train_batch_end` (if any)."""
        pending = getattr(self, "_pending_loss", None)
        self._pending_loss = None
        if pending is not None:
            self.check_loss(*pending)

    def check_loss(self, loss: Tensor, epoch: int | None = None, step: int | None = None
                   ) -> None:
        """Raise :class:`TrainingError` when ``loss`` is NaN or infinite."""
        check_finite(loss, self.name, self.current_epoch if epoch is None else epoch,
                     self.global_step if step is None else step,
                     "lower --lr or use --precision 32 (the last good checkpoint is kept in "
                     "the run folder's checkpoints/)")

    def momentum_at(self, step: int) -> float:
        """EMA momentum after ``step`` optimiser steps: lightly's ``cosine_schedule`` from
        ``momentum_base`` at step 0 to 1 at the last step; 1 without ``momentum_base``."""
        if self.momentum_base is None:
            return 1.0
        return cosine_schedule(step, self.total_steps(), self.momentum_base, 1.0)

    def total_steps(self) -> int:
        if self._trainer is None:
            return 1
        return max(1, int(self.trainer.estimated_stepping_batches))

    def peak_lr(self) -> float:
        """The run's peak learning rate: ``optim.lr``, or scaled with the global batch (the
        datamodule's batch times the processes; 1 outside a trainer)."""
        world = self.trainer.world_size if self._trainer is not None else 1
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer else None
        return self.optim.peak_lr(getattr(datamodule, "batch_size", 1) * world)

    def configure_optimizers(self) -> dict[str, Any]:
        lr = self.peak_lr()
        total = self.total_steps()
        steps_per_epoch = max(1, total // max(1, self.trainer.max_epochs or 1)) \
            if self._trainer is not None else 1
        warmup = round(self.optim.warmup_epochs * steps_per_epoch)
        return configure(self.param_groups(), self.optim, lr, total, warmup)


def check_views(method: str, views: list[Tensor], batch_reason: str | None = None) -> None:
    """Refuse fewer than two views, and (with ``batch_reason``, why the loss needs it) a batch
    of fewer than 2 images.

    Raises:
        ConfigError: naming ``method`` and what it got.
    """
    if len(views) < 2:
        raise ConfigError(f"{method} needs at least two views, got {len(views)}")
    if batch_reason is not None and views[0].shape[0] < 2:
        raise ConfigError(f"{method} needs a batch of at least 2 images ({batch_reason}), got "
                          f"{views[0].shape[0]}")


def mean_over_pairs(loss: Callable[[Tensor, Tensor], Tensor], outputs: list[Tensor]
                    ) -> Tensor:
    """``loss(a, b)`` of two outputs ``(B, P)``, or its mean over every pair of them when there
    are more (multi-crop)."""
    losses = [loss(a, b) for a, b in itertools.combinations(outputs, 2)]
    return losses[0] if len(losses) == 1 else torch.stack(losses).mean()


def momentum_copy(module: nn.Module) -> nn.Module:
    """A frozen copy of ``module`` (no parameter requires a gradient) to be moved only by the
    EMA of :meth:`SSLMethod.momentum_pairs`: BYOL's target, MoCo's key encoder, DINO's
    teacher backbone."""
    twin = copy.deepcopy(module)
    deactivate_requires_grad(twin)
    return twin


#: Modules of this package that define no method; every other module in the folder is
#: imported and its ``@register_method`` fills the registry (a new method is one new file).
INFRASTRUCTURE = frozenset({"args", "base", "optim"})


def method_modules() -> list[str]:
    """Names of the method modules found in this package's folder(s), sorted."""
    return package_modules("medaug.methods", INFRASTRUCTURE)


_METHODS: Registry[type[SSLMethod]] = Registry("method", ConfigError,
                                              module_loader("medaug.methods", INFRASTRUCTURE))
