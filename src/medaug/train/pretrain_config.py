"""The pretraining stage's configuration (the ``pretrain`` section of a config file)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from medaug.augment.pipeline import DEFAULT_OPS
from medaug.config import from_mapping
from medaug.errors import ConfigError


@dataclass(frozen=True)
class PretrainConfig:
    """Everything ``medaug pretrain`` needs besides the data.

    ``batch_size`` is per process; ``lr=None`` scales with the global batch
    (:class:`medaug.methods.base.OptimConfig`); ``method_args`` is the method's own settings,
    ``key=value,key=value`` named as its constructor's arguments (``temperature=0.5,proj_dim=64``
    for SimCLR; see :mod:`medaug.methods.args`), empty for its paper defaults; ``ops2`` is the
    second view's spec (BYOL's asymmetric views), the same as ``ops`` when ``None``.
    ``local_crops`` adds that many multi-crop local views (``ops`` with a crop of 5-40 % of
    the area) resized to ``local_size`` px (``None``: 3/7 of the image size, DINO's 96/224);
    0 keeps the two global views alone.
    ``positives`` is where the second view comes from: ``image`` (the same image, the usual
    SSL pair), ``study`` or ``patient`` (another image of the same study or patient when there
    is one, MICLe; see :mod:`medaug.train.positives` for when that is sound).
    ``precision="auto"`` is bf16 mixed precision on GPUs that support it, fp16 mixed on other
    GPUs and fp32 on the CPU. ``resident`` keeps the train images on the training device
    (:mod:`medaug.train.resident`; ``auto``: on a GPU when they fit); ``compile`` and
    ``channels_last`` (:mod:`medaug.models.speed`; ``auto``: on a GPU) only change how fast
    a step runs.
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
    method_args: str = ""
    seed: int = 0
    knn_k: int = 20
    knn_max_bank: int = 10000
    accelerator: str = "auto"
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "auto"
    workers: int = 0
    local_crops: int = 0
    local_size: int | None = None
    positives: str = "image"
    resident: str = "auto"
    compile: str = "auto"
    channels_last: str = "auto"

    #: Fields a resumed run may change (where and how fast it runs, and how long).
    RESUMABLE = ("epochs", "accelerator", "devices", "num_nodes", "strategy", "precision",
                 "workers", "resident", "compile", "channels_last")

    def __post_init__(self) -> None:
        at_least = {"epochs": 1, "batch_size": 2, "devices": 1, "num_nodes": 1, "knn_k": 1,
                    "knn_max_bank": 1, "workers": 0, "local_crops": 0}
        bad = [f"{k} must be at least {v}, got {getattr(self, k)}"
               for k, v in at_least.items() if getattr(self, k) < v]
        if self.lr is not None and not self.lr > 0:
            bad.append(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.warmup_epochs < self.epochs:
            bad.append(f"warmup_epochs must be in [0, epochs={self.epochs}), got "
                       f"{self.warmup_epochs}")
        if self.positives not in ("image", "study", "patient"):
            bad.append(f"positives must be image, study or patient, got {self.positives!r}")
        if self.local_size is not None and self.local_size < 1:
            bad.append(f"local_size must be at least 1, got {self.local_size}")
        for name in ("resident", "compile", "channels_last"):
            if getattr(self, name) not in ("auto", "on", "off"):
                bad.append(f"{name} must be auto, on or off, got {getattr(self, name)!r}")
        if self.weight_decay < 0:
            bad.append(f"weight_decay must be >= 0, got {self.weight_decay}")
        if bad:
            raise ConfigError("pretrain: " + "; ".join(bad))


#: Keys of a ``pretrain`` section written before ``method_args`` (run folders of older versions).
LEGACY_KEYS = ("temperature", "momentum_base", "proj_hidden", "proj_dim")


def legacy_pretrain_section(section: Mapping[str, Any]) -> dict[str, Any]:
    """``section`` with the legacy keys (:data:`LEGACY_KEYS`) folded into ``method_args``: only
    those the saved method takes, and only where they differ from its default (``None`` meant
    the method's default); ``method_args`` set to the folded spec, empty when nothing is left.
    A section without legacy keys is returned unchanged.
    """
    section = dict(section)
    legacy = {k: section.pop(k) for k in LEGACY_KEYS if k in section}
    if not legacy:
        return section
    from medaug.methods.args import format_args, method_defaults, split_spec

    defaults = method_defaults(str(section.get("method", PretrainConfig.method)))
    given = section.get("method_args") or ""
    folded = dict(given) if isinstance(given, Mapping) else split_spec(str(given))
    for key, value in legacy.items():
        if key in defaults and value is not None and value != defaults[key]:
            folded.setdefault(key, value)
    section["method_args"] = format_args(folded)
    return section


def pretrain_from_dict(raw: dict[str, Any], source: str = "config") -> PretrainConfig:
    """The ``pretrain`` section of a config (nested dicts) as a :class:`PretrainConfig`, each
    value checked by its field's type; ``method_args`` may be a mapping or the spec text and is
    checked against the method's arguments; a legacy section (:data:`LEGACY_KEYS`) is folded
    by :func:`legacy_pretrain_section`.

    Raises:
        ConfigError: an unknown key or a bad value (the message names the key and ``source``).
    """
    section = raw.get("pretrain")
    if isinstance(section, Mapping):
        section = legacy_pretrain_section(section)
        if isinstance(section.get("method_args"), Mapping):
            from medaug.methods.args import format_args

            section["method_args"] = format_args(section["method_args"])
    config = from_mapping(PretrainConfig, section, source, "pretrain")
    if config.method_args.strip():
        from medaug.methods.args import parse_method_args

        parse_method_args(config.method, config.method_args, source)
    return config
