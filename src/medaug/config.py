"""Configuration: frozen dataclasses per stage, read from YAML, unknown keys rejected.

A file has one section per stage; every key is optional and defaults to the dataclass field::

    data:          # medaug.data.datasets.DataOptions, plus the dataset spec
      dataset: knee
      seed: 0
    preprocess:    # medaug.data.preprocess.PreprocessConfig
      size: 64
      clahe: true
    pretrain:      # PretrainConfig (read by ``medaug pretrain`` only)
      method: byol
      epochs: 20
    probe:         # medaug.evaluate.linear_eval.ProbeConfig (``medaug probe``)
      fractions: [0.01, 0.1, 1.0]
    supervised:    # medaug.evaluate.supervised_run.SupervisedConfig, fractions, seeds
      epochs: 30
    explain:       # medaug.explain.run.ExplainConfig (``medaug explain``)
      method: gradcam

Command-line options given explicitly override the file. The resolved configuration is saved
beside every artefact (a cache's ``meta.json`` holds it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from medaug.data.datasets import DEFAULT_DATASET, DataOptions
from medaug.data.preprocess import PreprocessConfig
from medaug.data.sources.folder import parse_classes
from medaug.errors import ConfigError, DataError


@dataclass(frozen=True)
class DataConfig:
    """Which dataset (a spec of :func:`medaug.data.datasets.load_dataset`) and how to read it."""

    dataset: str = DEFAULT_DATASET
    options: DataOptions = field(default_factory=DataOptions)


#: Sections a config file may have (each command reads the ones it needs).
SECTIONS = ("data", "preprocess", "pretrain", "probe", "supervised", "explain")

#: The default pretraining ops: crops, mild geometry and intensity changes (lengths scale with
#: the image size, see :mod:`medaug.augment.base`); the study's chessboard and erasing are
#: opt-in.
DEFAULT_PRETRAIN_OPS = "crop+rotate+flip+blur+intensity"


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
    ops: str = DEFAULT_PRETRAIN_OPS
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
    """The ``pretrain`` section of a config (nested dicts) as a :class:`PretrainConfig`."""
    section = raw.get("pretrain") or {}
    _check_keys(section, [f.name for f in fields(PretrainConfig)], source, "pretrain")
    try:
        return PretrainConfig(**dict(section))
    except (TypeError, ValueError, ConfigError) as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def probe_from_dict(raw: dict[str, Any], source: str = "config") -> Any:
    """The ``probe`` section of a config as a :class:`~medaug.evaluate.linear_eval.ProbeConfig`
    (``fractions`` and ``probes`` may be lists or comma-separated text; ``class_weight: none``
    is no weighting)."""
    from medaug.evaluate.linear_eval import ProbeConfig

    section = dict(raw.get("probe") or {})
    _check_keys(section, [f.name for f in fields(ProbeConfig)], source, "probe")
    try:
        if "fractions" in section:
            section["fractions"] = _fractions(section["fractions"])
        if "probes" in section:
            section["probes"] = _names(section["probes"])
        if str(section.get("class_weight", "")).lower() == "none":
            section["class_weight"] = None
        return ProbeConfig(**section)
    except (TypeError, ValueError, DataError, ConfigError) as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def supervised_from_dict(raw: dict[str, Any], source: str = "config"
                         ) -> tuple[Any, tuple[float, ...], int]:
    """The ``supervised`` section of a config: a
    :class:`~medaug.evaluate.supervised_run.SupervisedConfig`, the label fractions and the
    label subsets per fraction below 1 (keys ``fractions`` and ``seeds``)."""
    from medaug.evaluate.supervised_run import SupervisedConfig

    section = dict(raw.get("supervised") or {})
    _check_keys(section, [*(f.name for f in fields(SupervisedConfig)), "fractions", "seeds"],
                source, "supervised")
    try:
        fractions = _fractions(section.pop("fractions", (1.0,)))
        seeds = int(section.pop("seeds", 3))
        if seeds < 1:
            raise ConfigError(f"supervised: seeds must be at least 1, got {seeds}")
        if str(section.get("class_weight", "")).lower() == "none":
            section["class_weight"] = None
        return SupervisedConfig(**section), fractions, seeds
    except (TypeError, ValueError, DataError, ConfigError) as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def explain_from_dict(raw: dict[str, Any], source: str = "config") -> Any:
    """The ``explain`` section of a config as a :class:`~medaug.explain.run.ExplainConfig`
    (``paths`` and ``percentiles`` may be lists or comma-separated text; ``class_weight:
    none`` is no weighting)."""
    from medaug.explain.run import ExplainConfig

    section = dict(raw.get("explain") or {})
    _check_keys(section, [f.name for f in fields(ExplainConfig)], source, "explain")
    try:
        if "paths" in section:
            section["paths"] = _names(section["paths"] or ())
        if "percentiles" in section:
            try:
                section["percentiles"] = tuple(int(q) for q in _names(section["percentiles"]))
            except ValueError as exc:
                raise ConfigError(f"explain: percentiles must be whole numbers in (0, 100), "
                                  f"got {section['percentiles']!r}") from exc
        if str(section.get("class_weight", "")).lower() == "none":
            section["class_weight"] = None
        return ExplainConfig(**section)
    except (TypeError, ValueError, ConfigError) as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def _fractions(value: Any) -> tuple[float, ...]:
    from medaug.evaluate.fractions import parse_fractions

    if isinstance(value, str):
        return parse_fractions(value)
    items = value if isinstance(value, list | tuple) else [value]
    return parse_fractions(",".join(str(v) for v in items))


def _names(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(v).strip() for v in items if str(v).strip())


@dataclass(frozen=True)
class PrepareConfig:
    """Everything ``medaug prepare`` needs."""

    data: DataConfig = field(default_factory=DataConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)


def load_config(path: str | Path) -> PrepareConfig:
    """Read a YAML file into a :class:`PrepareConfig` (see :func:`load_raw`)."""
    return config_from_dict(load_raw(path), source=str(path))


def load_raw(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into nested dicts.

    Raises:
        ConfigError: unreadable YAML, an unknown section or key (the message lists the valid
            ones), or an invalid value; the message names the file.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"config {path}: cannot read it ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"config {path}: expected sections data/preprocess/pretrain, "
                          f"got {raw!r}")
    return raw


def config_from_dict(raw: dict[str, Any], source: str = "config") -> PrepareConfig:
    """Build a :class:`PrepareConfig` from nested dicts (see :func:`load_config`)."""
    _check_keys(raw, SECTIONS, source, "")
    data = raw.get("data") or {}
    option_names = [f.name for f in fields(DataOptions)]
    _check_keys(data, ("dataset", *option_names), source, "data")
    data = dict(data)
    dataset = str(data.pop("dataset", DEFAULT_DATASET))
    for key in ("exclude", "body_parts"):
        if key in data:
            data[key] = tuple(str(v) for v in data[key] or ())
    if data.get("classes") is not None:
        if not isinstance(data["classes"], dict):
            raise ConfigError(f"{source}: data.classes must map class folder -> normal/abnormal")
        try:
            data["classes"] = parse_classes(",".join(f"{k}={v}" for k, v in
                                                     data["classes"].items()))
        except DataError as exc:
            raise ConfigError(f"{source}: data.classes: {exc}") from exc
    pre = raw.get("preprocess") or {}
    _check_keys(pre, [f.name for f in fields(PreprocessConfig)], source, "preprocess")
    try:
        return PrepareConfig(DataConfig(dataset, DataOptions(**data)),
                             PreprocessConfig(**dict(pre)))
    except (TypeError, ValueError, DataError) as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def config_to_dict(config: PrepareConfig) -> dict[str, Any]:
    """The resolved configuration as plain data (YAML/JSON friendly)."""
    data = {"dataset": config.data.dataset, **dataclasses.asdict(config.data.options)}
    for key in ("exclude", "body_parts"):
        data[key] = list(data[key])
    if data["classes"] is not None:
        data["classes"] = dict(data["classes"])
    return {"data": data, "preprocess": dataclasses.asdict(config.preprocess)}


def _check_keys(section: object, valid: list[str] | tuple[str, ...], source: str, name: str
                ) -> None:
    where = f"{source}: section {name!r}" if name else source
    if not isinstance(section, dict):
        raise ConfigError(f"{where} must be a mapping, got {section!r}")
    unknown = [k for k in section if k not in valid]
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
                          f"valid: {', '.join(valid)}")
