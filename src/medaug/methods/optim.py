"""Optimiser, parameter groups, learning-rate schedule, per-step seeds, step-seeded
augmentation and the finite-loss check, shared by every training stage (the self-supervised
methods and the supervised baseline): one copy of each.

A parameter group is a dict with ``params`` and optionally ``lr_scale`` (a factor of the peak
rate, scheduled), ``lr`` (a fixed rate the schedule leaves alone, e.g. SimSiam's predictor)
and ``weight_decay`` (otherwise the config's).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from medaug.errors import ConfigError, TrainingError

#: Parameter-group keys :func:`make_optimizer` reads.
GROUP_KEYS = ("params", "lr", "lr_scale", "weight_decay", "name")


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and learning-rate schedule.

    Args:
        optimizer: ``sgd`` (momentum 0.9) or ``adamw``.
        lr: peak learning rate; ``None`` scales a base rate by the global batch ``B``:
            ``0.06 * B / 128`` for SGD (lightly's CIFAR-10 benchmarks), ``1e-3 * B / 256`` for
            AdamW.
        weight_decay: decoupled for AdamW, L2 for SGD.
        warmup_epochs: linear warm-up (may be fractional), then cosine decay to 0 per step.
        decay_norm_bias: apply weight decay to biases and normalisation parameters too; with
            ``False`` they go to a group without decay (LARS/BYOL practice).
    """

    optimizer: str = "sgd"
    lr: float | None = None
    weight_decay: float = 5e-4
    warmup_epochs: float = 0.0
    decay_norm_bias: bool = True

    def check(self) -> None:
        """Raise :class:`ConfigError` for an optimizer other than ``sgd`` and ``adamw``."""
        if self.optimizer not in ("sgd", "adamw"):
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; choose sgd or adamw")

    def peak_lr(self, global_batch: int) -> float:
        if self.lr is not None:
            return float(self.lr)
        return 0.06 * global_batch / 128 if self.optimizer == "sgd" else 1e-3 * global_batch / 256


def step_seed(seed: int, step: int, world: int = 1, rank: int = 0) -> int:
    """Seed of the augmentation drawn at optimiser ``step`` by process ``rank`` of ``world``:
    distinct per step and process, the same when a run is resumed."""
    return (seed * 1_000_003 + step * world + rank) % (2**63)


def trainable_groups(module: nn.Module, decay_norm_bias: bool = True) -> list[dict[str, Any]]:
    """``module``'s trainable parameters as one group, or, with ``decay_norm_bias=False``, two:
    weights, then biases and normalisation parameters (every parameter of 1 dimension) with
    ``weight_decay`` 0."""
    params = [p for p in module.parameters() if p.requires_grad]
    if decay_norm_bias:
        return [{"params": params}]
    return [{"params": [p for p in params if p.ndim > 1]},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0,
             "name": "norm_bias"}]


def make_optimizer(groups: nn.Module | Iterable[dict[str, Any]], optim: OptimConfig, lr: float
                   ) -> torch.optim.Optimizer:
    """SGD (momentum 0.9) or AdamW over parameter ``groups`` (a module: its trainable
    parameters) at peak rate ``lr``.

    A group's rate is its fixed ``lr``, else ``lr * lr_scale`` (1 by default); each torch
    group keeps ``fixed_lr`` so that :func:`group_schedules` leaves fixed rates alone.

    Raises:
        ConfigError: a group with an unknown key, or with both ``lr`` and ``lr_scale``.
    """
    if isinstance(groups, nn.Module):
        groups = trainable_groups(groups)
    built = []
    for group in groups:
        unknown = [k for k in group if k not in GROUP_KEYS]
        if unknown or ("lr" in group and "lr_scale" in group):
            raise ConfigError(f"parameter group {group.get('name', '?')!r}: unknown key(s) "
                              f"{unknown} or both lr and lr_scale; valid: {', '.join(GROUP_KEYS)}")
        params = list(group["params"])
        if not params:
            continue
        fixed = "lr" in group
        rate = float(group["lr"]) if fixed else lr * float(group.get("lr_scale", 1.0))
        built.append({"params": params, "lr": rate, "fixed_lr": fixed,
                      "weight_decay": float(group.get("weight_decay", optim.weight_decay))})
    if optim.optimizer == "sgd":
        return torch.optim.SGD(built, lr=lr, momentum=0.9, weight_decay=optim.weight_decay)
    return torch.optim.AdamW(built, lr=lr, weight_decay=optim.weight_decay)


def group_schedules(opt: torch.optim.Optimizer, warmup: int, total: int
                    ) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step scheduler of ``opt``: warm-up and cosine (:func:`warmup_cosine`) on every group
    but those with a fixed rate, whose factor stays 1."""
    factor = warmup_cosine(warmup, total)
    lambdas = [_one if group.get("fixed_lr") else factor for group in opt.param_groups]
    return torch.optim.lr_scheduler.LambdaLR(opt, lambdas)


def _one(step: int) -> float:
    return 1.0


def configure(groups: nn.Module | Iterable[dict[str, Any]], optim: OptimConfig, lr: float,
              total: int, warmup: int = 0) -> dict[str, Any]:
    """Lightning's ``configure_optimizers`` answer: :func:`make_optimizer` and its
    :func:`group_schedules` stepped every optimiser step over ``total`` steps."""
    opt = make_optimizer(groups, optim, lr)
    schedule = group_schedules(opt, warmup, max(1, total))
    return {"optimizer": opt, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def augment_batch(augment: Callable[[Tensor, torch.Generator], Any], images: Tensor,
                  device: torch.device, seed: int) -> Any:
    """``augment(x, generator)`` of a ``uint8`` batch ``(B, S, S)`` as floats ``(B, 1, S, S)``
    in ``[0, 1]`` on ``device`` (a batch of pairs ``(B, 2, S, S)``, ``--positives``, stays
    ``(B, 2, S, S)``), drawn from a generator seeded by ``seed`` (:func:`step_seed`), without
    gradients and outside autocast."""
    x = images.to(device, non_blocking=True).float().div_(255)
    x = x.unsqueeze(1) if x.ndim == 3 else x
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
        return augment(x, generator)


def check_finite(loss: Tensor, what: str, epoch: int | None, step: int,
                 advice: str = "lower --lr or use --precision 32") -> None:
    """Raise :class:`TrainingError` when ``loss`` is NaN or infinite (the message names the
    ``what`` loss, the epoch when known, the step and ``advice``)."""
    if not bool(torch.isfinite(loss)):
        at = f"epoch {epoch}, step {step}" if epoch is not None else f"step {step}"
        raise TrainingError(f"the {what} loss became {loss.item()} at {at}; {advice}")


def warmup_cosine(warmup: int, total: int) -> Callable[[int], float]:
    """Factor of the peak rate at step ``s``: linear from ``1/warmup`` to 1 over ``warmup``
    steps, then half a cosine to 0 at ``total``."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        span = max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(step - warmup, span) / span))

    return factor
