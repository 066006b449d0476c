"""Optimiser, learning-rate schedule and per-step seeds shared by every training stage (the
self-supervised methods and the supervised baseline)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


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
    """

    optimizer: str = "sgd"
    lr: float | None = None
    weight_decay: float = 5e-4
    warmup_epochs: float = 0.0

    def peak_lr(self, global_batch: int) -> float:
        if self.lr is not None:
            return float(self.lr)
        return 0.06 * global_batch / 128 if self.optimizer == "sgd" else 1e-3 * global_batch / 256


def step_seed(seed: int, step: int, world: int = 1, rank: int = 0) -> int:
    """Seed of the augmentation drawn at optimiser ``step`` by process ``rank`` of ``world``:
    distinct per step and process, the same when a run is resumed."""
    return (seed * 1_000_003 + step * world + rank) % (2**63)


def make_optimizer(module: nn.Module, optim: OptimConfig, lr: float) -> torch.optim.Optimizer:
    """SGD (momentum 0.9) or AdamW over ``module``'s trainable parameters at rate ``lr``."""
    params = [p for p in module.parameters() if p.requires_grad]
    if optim.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=optim.weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=optim.weight_decay)


def warmup_cosine(warmup: int, total: int) -> Callable[[int], float]:
    """Factor of the peak rate at step ``s``: linear from ``1/warmup`` to 1 over ``warmup``
    steps, then half a cosine to 0 at ``total``."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        span = max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(step - warmup, span) / span))

    return factor
