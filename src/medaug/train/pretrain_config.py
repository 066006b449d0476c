"""The pretraining stage's configuration (the ``pretrain`` section of a config file)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medaug.augment.pipeline import DEFAULT_OPS
from medaug.config import from_mapping
from medaug.errors import ConfigError


@dataclass(frozen=True)
class PretrainConfig:
    """Everything ``medaug pretrain`` needs besides the data.

    ``batch_size`` is per process; ``lr=None`` scales with the global batch
    (:class:`medaug.methods.base.OptimConfig`); ``proj_hidden``/``proj_dim`` ``None`` take the
    method's paper defaults; ``ops2`` is the second view's spec (BYOL's asymmetric views), the
    same as ``ops`` when ``None``. ``precision="auto"`` is bf16 mixed precision on GPUs that
    support it, fp16 mixed on other GPUs and fp32 on the CPU.
    """

    method: str = "simclr"
    ops: str = DEFAULT_OPS
    ops2: str | None = None
    backbone: str = "resnet18"
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float | None = None
    weight_decay: float = 5e-4
    warmup_epochs: float = 0.0
    temperature: float = 0.2
    momentum_base: float = 0.99
    proj_hidden: int | None = None
    proj_dim: int | None = None
    seed: int = 0
    knn_k: int = 20
    knn_max_bank: int = 10000
    accelerator: str = "auto"
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "auto"
    workers: int = 0

    #: Fields a resumed run may change (where and how fast it runs, and how long).
    RESUMABLE = ("epochs", "accelerator", "devices", "num_nodes", "strategy", "precision",
                 "workers")

    def __post_init__(self) -> None:
        at_least = {"epochs": 1, "batch_size": 2, "devices": 1, "num_nodes": 1, "knn_k": 1,
                    "knn_max_bank": 1, "workers": 0}
        bad = [f"{k} must be at least {v}, got {getattr(self, k)}"
               for k, v in at_least.items() if getattr(self, k) < v]
        if self.lr is not None and not self.lr > 0:
            bad.append(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.warmup_epochs < self.epochs:
            bad.append(f"warmup_epochs must be in [0, epochs={self.epochs}), got "
                       f"{self.warmup_epochs}")
        if self.weight_decay < 0:
            bad.append(f"weight_decay must be >= 0, got {self.weight_decay}")
        if bad:
            raise ConfigError("pretrain: " + "; ".join(bad))


def pretrain_from_dict(raw: dict[str, Any], source: str = "config") -> PretrainConfig:
    """The ``pretrain`` section of a config (nested dicts) as a :class:`PretrainConfig`, each
    value checked by its field's type."""
    return from_mapping(PretrainConfig, raw.get("pretrain"), source, "pretrain")
