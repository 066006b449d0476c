"""Factor levels applied to a trial's settings: any preprocessing option (``clahe``, ``size``,
``clip_limit``, ``tile_grid``), the train split's imbalance (``imbalance=none,4``: about 4
normal train images per abnormal one, :mod:`medaug.data.imbalance`), any pretraining option
(``optimizer``, ``lr``, ``batch_size``, ``epochs``, ``weight_decay``, ...) or any argument of
the method (``temperature``: its ``method_args``). ``on``/``off`` read as true/false."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping

from medaug.config import coerce
from medaug.data.config import PrepareConfig
from medaug.data.preprocess import PreprocessConfig
from medaug.errors import ConfigError
from medaug.methods.args import accepts, format_args, parse_method_args, split_spec
from medaug.train.pretrain_config import PretrainConfig

#: Data options a factor may set (``imbalance``: normal per abnormal train image).
DATA_OPTIONS = ("imbalance",)
#: Factors that change the data a trial sees (references are made per level of these).
DATA_FACTORS = (*(f.name for f in dataclasses.fields(PreprocessConfig)), *DATA_OPTIONS)
#: Pretraining fields a factor may not set (the study sets them per trial).
FIXED = ("method", "ops", "ops2", "seed")
_WORDS = {"on": "true", "off": "false", "yes": "true", "no": "false", "none": "none"}


def _value(text: str) -> str:
    return _WORDS.get(text.strip().lower(), text.strip())


def _set(config: object, name: str, text: str, where: str) -> object:
    hints = typing.get_type_hints(type(config))
    value = coerce(_value(text) if _value(text) != "none" else None, hints[name], where,
                   "study --factor")
    return dataclasses.replace(config, **{name: value})


def check_factor(name: str, methods: tuple[str, ...]) -> None:
    """Raise :class:`ConfigError` when ``name`` is no option a factor can set for every
    method of the study."""
    pre = {f.name for f in dataclasses.fields(PreprocessConfig)}
    pretrain = {f.name for f in dataclasses.fields(PretrainConfig)} - set(FIXED)
    if name in pre or name in pretrain or name in DATA_OPTIONS:
        return
    missing = [m for m in methods if not accepts(m, name)]
    if missing:
        raise ConfigError(
            f"study: --factor {name}: not a preprocessing or pretraining option, nor an "
            f"argument of {', '.join(missing)} (preprocessing: {', '.join(sorted(pre))}; "
            f"pretraining: {', '.join(sorted(pretrain))})")


def apply_levels(data: PrepareConfig, pretrain: PretrainConfig,
                 levels: Mapping[str, str]) -> tuple[PrepareConfig, PretrainConfig]:
    """``data`` and ``pretrain`` with every factor level set (the method's arguments merged
    into ``method_args``).

    Raises:
        ConfigError: a level that is no value of its option.
    """
    pre, options = data.preprocess, data.data.options
    method_args = split_spec(pretrain.method_args) if pretrain.method_args.strip() else {}
    for name, text in levels.items():
        where = f"factor {name}={text}"
        if name in DATA_OPTIONS:
            options = _set(options, name, text, where)  # type: ignore[assignment]
        elif name in DATA_FACTORS:
            pre = _set(pre, name, text, where)  # type: ignore[assignment]
        elif name in {f.name for f in dataclasses.fields(PretrainConfig)} and name not in FIXED:
            pretrain = _set(pretrain, name, text, where)  # type: ignore[assignment]
        else:
            method_args[name] = _value(text)
    if method_args:
        spec = format_args(method_args)
        parse_method_args(pretrain.method, spec, "study --factor")
        pretrain = dataclasses.replace(pretrain, method_args=spec)
    data = dataclasses.replace(data, preprocess=pre,
                               data=dataclasses.replace(data.data, options=options))
    return data, pretrain


def data_levels(levels: Mapping[str, str]) -> dict[str, str]:
    """The levels that change the data (references are shared across the others)."""
    return {k: v for k, v in levels.items() if k in DATA_FACTORS}
