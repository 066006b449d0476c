"""The data stage's configuration: which dataset and how its cache is made (the ``data`` and
``preprocess`` sections of a config file)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medaug.config import (
    SECTIONS,
    check_keys,
    coerce,
    field_names,
    from_mapping,
    load_raw,
    to_dict,
)
from medaug.data.datasets import DEFAULT_DATASET, DataOptions
from medaug.data.preprocess import PreprocessConfig
from medaug.data.sources.folder import parse_classes
from medaug.errors import ConfigError, DataError


@dataclass(frozen=True)
class DataConfig:
    """Which dataset (a spec of :func:`medaug.data.datasets.load_dataset`) and how to read it."""

    dataset: str = DEFAULT_DATASET
    options: DataOptions = field(default_factory=DataOptions)


@dataclass(frozen=True)
class PrepareConfig:
    """Everything ``medaug prepare`` needs (and every stage reads its data through)."""

    data: DataConfig = field(default_factory=DataConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)


def prepare_from_dict(raw: dict[str, Any], source: str = "config") -> PrepareConfig:
    """The ``data`` and ``preprocess`` sections of a config (nested dicts) as a
    :class:`PrepareConfig`; values are checked by field type (:func:`medaug.config.coerce`).

    Raises:
        ConfigError: an unknown section or key, or an invalid value; the message names
            ``source`` and the key.
    """
    check_keys(raw, SECTIONS, source, "")
    check_keys(raw.get("data") or {}, ("dataset", *field_names(DataOptions)), source, "data")
    data = dict(raw.get("data") or {})
    dataset = coerce(data.pop("dataset", DEFAULT_DATASET), str, "data.dataset", source)
    if data.get("classes") is not None:
        classes = data["classes"]
        if not isinstance(classes, dict):
            raise ConfigError(f"{source}: data.classes must map class folder -> "
                              "normal/abnormal")
        try:
            data["classes"] = parse_classes(",".join(f"{k}={v}" for k, v in classes.items()))
        except DataError as exc:
            raise ConfigError(f"{source}: data.classes: {exc}") from exc
    options = from_mapping(DataOptions, data, source, "data", skip=("classes",))
    preprocess = from_mapping(PreprocessConfig, raw.get("preprocess"), source, "preprocess")
    return PrepareConfig(DataConfig(dataset, options), preprocess)


def prepare_to_dict(config: PrepareConfig) -> dict[str, Any]:
    """The resolved ``data`` and ``preprocess`` sections as plain data (YAML/JSON friendly)."""
    data = {"dataset": config.data.dataset, **to_dict(config.data.options)}
    if data["classes"] is not None:
        data["classes"] = dict(data["classes"])
    return {"data": data, "preprocess": to_dict(config.preprocess)}


def load_config(path: str | Path) -> PrepareConfig:
    """Read a YAML file's ``data`` and ``preprocess`` sections (see
    :func:`medaug.config.load_raw`)."""
    return prepare_from_dict(load_raw(path), source=str(path))
