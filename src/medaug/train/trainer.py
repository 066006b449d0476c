"""Lightning's trainer as every training stage builds it: the trainer itself, its precision
and strategy, and which process writes the run folder."""

from __future__ import annotations

import os
from typing import Any, Protocol

import lightning as L
import torch

from medaug.errors import ConfigError


class Placement(Protocol):
    """What :func:`choose_precision` reads of a stage's config."""

    precision: str
    accelerator: str


def is_primary_process() -> bool:
    """True in the process of global rank 0 (or when not launched by torchrun, SLURM or
    Lightning's DDP launcher)."""
    for var in ("RANK", "SLURM_PROCID"):
        if var in os.environ and (var != "SLURM_PROCID" or "SLURM_NTASKS" in os.environ):
            return os.environ[var] == "0"
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


def make_trainer(**kwargs: Any) -> L.Trainer:
    """Lightning's Trainer; its complaints about devices, strategy or precision become a
    :class:`ConfigError` with Lightning's own explanation."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    try:
        return L.Trainer(**kwargs)
    except (MisconfigurationException, ValueError, RuntimeError) as exc:
        raise ConfigError(f"cannot train with accelerator={kwargs['accelerator']!r}, devices="
                          f"{kwargs['devices']}, num_nodes={kwargs['num_nodes']}, precision="
                          f"{kwargs['precision']!r}: {exc}") from exc


def strategy_of(config: Any) -> Any:
    """``config.strategy``; DDP without unused-parameter search when ``auto`` on several
    processes."""
    if config.strategy != "auto" or config.devices * config.num_nodes == 1:
        return config.strategy
    from lightning.pytorch.strategies import DDPStrategy

    return DDPStrategy(find_unused_parameters=False)


def choose_precision(config: Placement) -> str:
    """Lightning precision of ``config``: ``auto`` is bf16 mixed on a GPU that has it, fp16
    mixed on other GPUs, fp32 on the CPU."""
    if config.precision != "auto":
        return config.precision
    gpu = config.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    if not gpu:
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
