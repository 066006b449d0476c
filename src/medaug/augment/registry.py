"""Ops registered by name, and spec strings that build pipelines.

A spec joins op names with ``+``; each name may carry parameters in parentheses::

    rotate+flip+chessboard
    crop(scale=0.5-1.0)+blur(sigma=0.1-0.6,p=0.5)+flip(vertical=true)

A value ``a-b`` is a range ``(a, b)`` (a negative bound is written with a leading ``-``,
e.g. ``-5--1``), ``true``/``false`` are booleans, a bare word is a string
(``interpolation=nearest``), anything else is a number. An unknown op or
parameter raises :class:`~medaug.errors.AugmentError` listing the valid ones.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, TypeVar

from medaug.augment.base import Op
from medaug.errors import AugmentError
from medaug.registry import Registry, module_loader, package_modules

#: Modules of this package that hold no op: everything else in the folder is imported, and
#: its ``@register_op`` decorators fill the registry (a new op is one new file).
INFRASTRUCTURE = frozenset({"base", "geometry", "pipeline", "preview", "registry", "views"})


def op_modules() -> list[str]:
    """Names of the op modules found in this package's folder(s), sorted."""
    return package_modules("medaug.augment", INFRASTRUCTURE)


_OPS: Registry[type[Op]] = Registry("augmentation op", AugmentError,
                                  module_loader("medaug.augment", INFRASTRUCTURE))
T = TypeVar("T", bound=type[Op])


def register_op(name: str) -> Callable[[T], T]:
    """Class decorator: make an :class:`Op` buildable by ``name``; a duplicate is an error."""
    return _OPS.register(name)  # type: ignore[return-value]


def available_ops() -> list[str]:
    """Registered op names, sorted."""
    return _OPS.names()


def op_parameters(name: str) -> list[str]:
    """The keyword parameters op ``name`` accepts."""
    cls = _lookup(name)
    sig = inspect.signature(cls.__init__)
    return [p for p in sig.parameters if p != "self"]


def create_op(name: str, **kwargs: Any) -> Op:
    """Build op ``name`` with ``kwargs``; unknown parameters are an error that lists valid ones."""
    cls = _lookup(name)
    valid = op_parameters(name)
    unknown = [k for k in kwargs if k not in valid]
    if unknown:
        raise AugmentError(
            f"op {name!r} has no parameter {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(valid)}"
        )
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise AugmentError(f"op {name!r}: {exc}") from exc


_NUMBER = r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^({_NUMBER})-({_NUMBER})$")
_ITEM = re.compile(r"^\s*([A-Za-z_][\w]*)\s*(?:\((.*)\))?\s*$")


def parse_value(text: str) -> Any:
    """``"0.1-0.6" -> (0.1, 0.6)``, ``"true" -> True``, ``"3" -> 3``, ``"0.5" -> 0.5``,
    ``"nearest" -> "nearest"``."""
    t = text.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    m = _RANGE.match(t)
    if m:
        return (_number(m.group(1)), _number(m.group(2)))
    if re.fullmatch(r"[A-Za-z_]\w*", t):
        return t  # a word, e.g. interpolation=nearest
    try:
        return _number(t)
    except ValueError as exc:
        raise AugmentError(f"cannot read value {text!r}: expected a number, a range a-b, "
                           "true/false or a word") from exc


def _number(t: str) -> int | float:
    return int(t) if re.fullmatch(r"-?\d+", t) else float(t)


def parse_spec(spec: str) -> list[tuple[str, dict[str, Any]]]:
    """Split a spec string into ``(name, kwargs)`` pairs (not yet validated)."""
    if not spec or not spec.strip():
        raise AugmentError("empty augmentation spec; valid ops: " + ", ".join(available_ops()))
    items: list[tuple[str, dict[str, Any]]] = []
    for part in _split_top(spec, "+"):
        m = _ITEM.match(part)
        if not m:
            raise AugmentError(f"cannot read augmentation {part!r} in spec {spec!r}")
        name, args = m.group(1), m.group(2)
        kwargs: dict[str, Any] = {}
        if args and args.strip():
            for kv in args.split(","):
                if "=" not in kv:
                    raise AugmentError(f"parameter {kv.strip()!r} of {name!r} needs name=value")
                key, value = kv.split("=", 1)
                kwargs[key.strip()] = parse_value(value)
        items.append((name, kwargs))
    return items


def _split_top(text: str, sep: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def build_ops(spec: str) -> list[Op]:
    """The ops of a spec string, in order."""
    return [create_op(name, **kwargs) for name, kwargs in parse_spec(spec)]


def _lookup(name: str) -> type[Op]:
    return _OPS.lookup(name)
