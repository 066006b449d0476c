"""The supervised baseline's configuration (the ``supervised`` section of a config file)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medaug.augment.pipeline import DEFAULT_OPS
from medaug.config import check_keys, coerce, field_names, from_mapping
from medaug.errors import ConfigError
from medaug.evaluate.metrics import scoring_problems


@dataclass(frozen=True)
class SupervisedConfig:
    """The supervised baseline's settings.

    ``epochs`` are epochs over the *full* training split: a label fraction trains for the same
    number of optimiser steps (more epochs over fewer images), so every fraction gets the same
    budget. ``class_weight="balanced"`` weighs abnormal images by ``n_normal / n_abnormal``.
    """

    backbone: str = "resnet18"
    ops: str = DEFAULT_OPS
    epochs: int = 30
    batch_size: int = 64
    optimizer: str = "adamw"
    lr: float | None = None  # 1e-3 for adamw, 0.1 for sgd
    weight_decay: float = 1e-4
    class_weight: str | None = None
    seed: int = 0
    accelerator: str = "auto"
    precision: str = "auto"
    workers: int = 0
    threshold: str = "youden"
    bootstrap: int = 1000

    #: Fields that only change how a finished run is scored (changing them reuses the run).
    SCORING = ("threshold", "bootstrap")

    def __post_init__(self) -> None:
        bad = []
        for key, low in (("epochs", 1), ("batch_size", 2), ("bootstrap", 100), ("workers", 0)):
            if getattr(self, key) < low:
                bad.append(f"{key} must be at least {low}, got {getattr(self, key)}")
        if self.optimizer not in ("adamw", "sgd"):
            bad.append(f"optimizer must be adamw or sgd, got {self.optimizer!r}")
        if self.lr is not None and not self.lr > 0:
            bad.append(f"lr must be > 0, got {self.lr}")
        bad += scoring_problems(self.threshold, self.class_weight)
        if bad:
            raise ConfigError("supervised: " + "; ".join(bad))


def supervised_from_dict(raw: dict[str, Any], source: str = "config"
                         ) -> tuple[SupervisedConfig, tuple[float, ...], int]:
    """The ``supervised`` section of a config: a :class:`SupervisedConfig`, the label
    fractions (sorted, unique, in (0, 1]) and the label subsets per fraction below 1 (keys
    ``fractions`` and ``seeds``)."""
    section = dict(raw.get("supervised") or {})
    check_keys(section, [*field_names(SupervisedConfig), "fractions", "seeds"], source,
               "supervised")
    fractions = tuple(sorted(set(coerce(section.pop("fractions", (1.0,)), tuple[float, ...],
                                        "supervised.fractions", source))))
    if not fractions or any(not 0 < f <= 1 for f in fractions):
        raise ConfigError(f"{source}: supervised: label fractions must lie in (0, 1], got "
                          f"{fractions}")
    seeds = coerce(section.pop("seeds", 3), int, "supervised.seeds", source)
    if seeds < 1:
        raise ConfigError(f"{source}: supervised: seeds must be at least 1, got {seeds}")
    return from_mapping(SupervisedConfig, section, source, "supervised"), fractions, seeds
