"""Configuration, generically: YAML files into frozen dataclasses, checked by field type.

A config file has one section per stage; every key is optional and defaults to the field of
that stage's dataclass, which lives beside the stage's runner::

    data:          # medaug.data.config.DataConfig (dataset spec + DataOptions)
    preprocess:    # medaug.data.preprocess.PreprocessConfig
    pretrain:      # medaug.train.pretrain_config.PretrainConfig
    probe:         # medaug.evaluate.probe_config.ProbeConfig
    supervised:    # medaug.train.supervised_config.SupervisedConfig
    explain:       # medaug.explain.config.ExplainConfig

This module knows no stage: :func:`from_mapping` builds any dataclass from a mapping, coercing
and checking each value by the field's annotation (``bool``, ``int``, ``float``, ``str``,
``X | None``, tuples and lists of those) and naming the key in every error; :func:`load_raw`
reads YAML safely (no aliases, a size cap). Command-line options given explicitly override the
file; the resolved configuration is saved beside every artefact.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from medaug.errors import ConfigError, MedaugError

T = TypeVar("T")

#: Sections a config file may have (each command reads the ones it needs).
SECTIONS = ("data", "preprocess", "pretrain", "probe", "supervised", "explain", "study")

#: Largest config file read (a config is a few hundred bytes; this refuses runaway input).
MAX_CONFIG_BYTES = 1 << 20

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses aliases (``*name``): a few hundred bytes of nested
    aliases expand to gigabytes (the "billion laughs"); a config never needs them."""

    def fetch_alias(self) -> None:
        mark = self.get_mark()
        raise yaml.YAMLError(f"aliases (*name) are not allowed in a medaug config (line "
                             f"{mark.line + 1})")


def load_raw(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into nested dicts.

    Raises:
        ConfigError: unreadable file, larger than :data:`MAX_CONFIG_BYTES`, not valid YAML,
            an alias, or not a mapping of sections; the message names the file.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"config {path}: cannot read it ({exc.strerror or exc})") from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config {path}: larger than {MAX_CONFIG_BYTES} bytes; not a config")
    try:
        raw = yaml.load(data.decode("utf-8"), Loader=_NoAliasLoader) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config {path}: not UTF-8 text ({exc.reason})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"config {path}: expected sections ({', '.join(SECTIONS)}), "
                          f"got {type(raw).__name__}")
    check_keys(raw, SECTIONS, str(path), "")
    for name, section in raw.items():
        if section is not None:
            check_keys(section, list(section) if isinstance(section, dict) else [], str(path),
                       name)
    return raw


def check_keys(section: object, valid: Sequence[str], source: str, name: str) -> None:
    """Raise :class:`ConfigError` unless ``section`` is a mapping whose keys are in ``valid``
    (the message lists the valid ones)."""
    where = f"{source}: section {name!r}" if name else source
    if not isinstance(section, dict):
        raise ConfigError(f"{where} must be a mapping, got {_show(section)}")
    unknown = [k for k in section if k not in valid]
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
                          f"valid: {', '.join(valid)}")


def field_names(cls: type) -> list[str]:
    """The init fields of dataclass ``cls``."""
    return [f.name for f in dataclasses.fields(cls) if f.init]


def from_mapping(cls: type[T], section: object, source: str = "config", name: str = "",
                 skip: Sequence[str] = ()) -> T:
    """Dataclass ``cls`` from ``section`` (a mapping; ``None`` is empty), every value coerced
    and checked by its field's annotation.

    Args:
        source: the file (or "command line") for messages.
        name: the section's name for messages (``pretrain`` -> ``pretrain.epochs: ...``).
        skip: fields passed through unchecked (the caller converted them already).

    Raises:
        ConfigError: a mapping that is not one, an unknown key, a value of the wrong type (the
            message names ``section.key``, the expected type and the value), or one that the
            dataclass itself refuses.
    """
    section = {} if section is None else section
    check_keys(section, field_names(cls), source, name)
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, value in section.items():
        where = f"{name}.{key}" if name else key
        values[key] = value if key in skip else coerce(value, hints[key], where, source)
    try:
        return cls(**values)
    except ConfigError as exc:
        message = str(exc)
        raise ConfigError(message if message.startswith(source) else f"{source}: {message}"
                          ) from exc
    except (TypeError, ValueError, MedaugError) as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def coerce(value: Any, annotation: Any, where: str, source: str = "config") -> Any:
    """``value`` as the type ``annotation`` names, or :class:`ConfigError` naming ``where``.

    Booleans take ``true/false/yes/no/on/off/1/0`` (also as text, so ``clahe: "false"`` is
    false, never truthy); integers refuse fractions (``28.5``) and booleans; floats take
    integers; text must be text; ``X | None`` takes ``None`` (or ``none``/``null`` as text);
    tuples and sequences take lists (or comma-separated text) of their item type.
    """
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        nullable = type(None) in args
        if nullable and (value is None or (isinstance(value, str)
                                           and value.strip().lower() in ("none", "null"))):
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return coerce(value, option, where, source)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0] if len(errors) == 1 else ConfigError(
            f"{source}: {where}: expected {_name(annotation)}, got {_show(value)}")
    if origin in (tuple, list, Sequence) or annotation in (tuple, list):
        item = args[0] if args else Any
        if value is None:
            return ()
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            value = [value]  # one item where a list is expected
        return tuple(coerce(v, item, f"{where}[{i}]", source) for i, v in enumerate(value))
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {where}: expected a mapping, got {_show(value)}")
        key_t, value_t = args if args else (Any, Any)
        return {coerce(k, key_t, f"{where} key", source): coerce(v, value_t, f"{where}.{k}",
                                                                   source)
                for k, v in value.items()}
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower() if isinstance(value, str | int) else None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ConfigError(f"{source}: {where}: expected true or false, got {_show(value)}")
    if annotation is int:
        if isinstance(value, bool):
            raise ConfigError(f"{source}: {where}: expected a whole number, got {_show(value)}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{source}: {where}: expected a whole number, got {_show(value)}")
    if annotation is float:
        if isinstance(value, bool):
            raise ConfigError(f"{source}: {where}: expected a number, got {_show(value)}")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{source}: {where}: expected a number, got {_show(value)}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{source}: {where}: expected text, got {_show(value)}")
    if isinstance(annotation, type) and isinstance(value, annotation):
        return value
    raise ConfigError(f"{source}: {where}: expected {_name(annotation)}, got {_show(value)}")


def to_dict(config: Any) -> dict[str, Any]:
    """A (nested) dataclass as plain data (YAML/JSON friendly: tuples become lists)."""
    return _plain(dataclasses.asdict(config))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _show(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"
