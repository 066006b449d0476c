"""A method's hyper-parameters are its constructor's arguments: ``--method-args`` and a config's
``pretrain.method_args`` name them, and they are read against the signature here, so a new
method file brings its settings with it (nothing to add to the config, the CLI or a key map).

The spec is ``key=value`` items joined by commas (``temperature=0.5,proj_dim=64``); each value
is converted by the argument's annotation (:func:`medaug.config.coerce`), or by its default's
type where it has no annotation.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Mapping
from typing import Any

from medaug.config import coerce
from medaug.errors import ConfigError
from medaug.methods.base import method_class

#: Constructor arguments every method takes from the stage, never from ``method_args``.
BASE_ARGS = ("backbone", "views", "optim", "seed")
#: Arguments the stage sets by itself (gathering negatives when there are several processes).
AUTOMATIC = ("gather_distributed",)


def method_parameters(method: str) -> dict[str, inspect.Parameter]:
    """The settings method ``method`` takes: its constructor's named arguments, less
    :data:`BASE_ARGS` and :data:`AUTOMATIC`, in signature order.

    Raises:
        ConfigError: an unknown method name.
    """
    sig = inspect.signature(method_class(method).__init__)
    return {name: p for name, p in sig.parameters.items()
            if name != "self" and name not in BASE_ARGS and name not in AUTOMATIC
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def accepts(method: str, argument: str) -> bool:
    """Whether method ``method``'s constructor takes ``argument`` by name."""
    return argument in inspect.signature(method_class(method).__init__).parameters


def method_defaults(method: str) -> dict[str, Any]:
    """Each setting of ``method`` with its default (settings without one are left out)."""
    return {k: p.default for k, p in method_parameters(method).items()
            if p.default is not inspect.Parameter.empty}


def split_spec(spec: str, where: str = "method_args", source: str = "config") -> dict[str, str]:
    """``"a=1, b=x"`` -> ``{"a": "1", "b": "x"}`` (values still text); empty text is empty.

    Raises:
        ConfigError: an item without ``=``, an empty key or a key given twice.
    """
    items: dict[str, str] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ConfigError(f"{source}: {where}: cannot read {part.strip()!r}; write "
                              "key=value,key=value")
        if key in items:
            raise ConfigError(f"{source}: {where}: {key!r} is given twice")
        items[key] = value.strip()
    return items


def format_args(values: Mapping[str, Any]) -> str:
    """The spec text of a mapping (a config file's ``method_args:`` section): ``k=v,...`` in
    the mapping's order, ``None`` as ``none`` and booleans as ``true``/``false``."""
    def text(v: Any) -> str:
        if v is None:
            return "none"
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    return ",".join(f"{k}={text(v)}" for k, v in values.items())


def parse_method_args(method: str, spec: str | Mapping[str, Any], source: str = "config",
                      where: str = "pretrain.method_args") -> dict[str, Any]:
    """The keyword arguments of ``spec`` for method ``method``, each converted by its
    parameter's annotation.

    Raises:
        ConfigError: an unknown method, an unknown key (the message lists the valid ones), an
            unreadable item or a value of the wrong type.
    """
    params = method_parameters(method)
    raw: Mapping[str, Any] = spec if isinstance(spec, Mapping) else split_spec(spec, where,
                                                                                 source)
    unknown = [k for k in raw if k not in params]
    if unknown:
        raise ConfigError(f"{source}: {where}: {method} has no argument "
                          f"{', '.join(map(repr, unknown))}; valid: "
                          f"{', '.join(params) or '(none)'}")
    hints = typing.get_type_hints(method_class(method).__init__)
    values = {}
    for key, value in raw.items():
        annotation = hints.get(key)
        if annotation is None or annotation is Any:
            default = params[key].default
            annotation = str if default in (None, inspect.Parameter.empty) else type(default)
        values[key] = coerce(value, annotation, f"{where}.{key}", source)
    return values


def effective_args(method: str, spec: str | Mapping[str, Any]) -> dict[str, Any]:
    """Every setting of ``method`` as ``spec`` leaves it: its defaults updated by the parsed
    ``spec`` (so ``temperature=0.2`` and an empty spec are the same when 0.2 is the default).

    Raises:
        ConfigError: as :func:`parse_method_args`.
    """
    return {**method_defaults(method), **parse_method_args(method, spec)}
