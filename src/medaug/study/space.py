"""The space a study searches: op combinations x methods x factor levels x seeds.

Ops are spec strings as ``--ops`` takes them (``blur(sigma=0.1-2,p=0.5)``); variants of one op
(``blur(sigma=0.1-2)`` and ``blur(sigma=0.1-6)``) are alternatives, numbered ``blur.1`` and
``blur.2``, and never meet in one combination. A combination's spec is ``base`` followed by
its ops in the order given (the SimCLR grid always crops first: ``--base crop``).

Presets (:data:`PRESETS`): ``pairs`` (each op alone and every pair: the composition grid of
Chen et al. 2020, fig. 5), ``full`` (every non-empty subset), ``seed`` (the original study's
five ops at its strengths, every non-empty combination: :data:`SEED_OPS`), or an explicit
``--combos "crop+flip,crop+blur"``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from medaug.augment.registry import available_ops, build_ops, parse_spec
from medaug.errors import ConfigError

PRESETS = ("pairs", "full", "seed")

#: The original study's five ops at the strengths it used at 256 px, written at medaug's
#: reference size of 224 px (lengths scale with the image, :mod:`medaug.augment.base`): blur
#: kernel 3 with sigma 1-2 px at 256 px, p 0.2; rotation +-10 degrees; horizontal flip p 0.5;
#: chessboard cells of 20 px each rolled by up to +-5 px at 256 px; erasing 1-10 % of the
#: area, aspect 0.5-2, p 0.3.
SEED_OPS = ("blur(sigma=0.875-1.75,kernel_size=3,p=0.2)", "rotate(degrees=10)",
            "flip(p=0.5)", "chessboard(cell=17.5,shift=4.375)",
            "erase(area=0.01-0.1,aspect=0.5-2,p=0.3)")


@dataclass(frozen=True)
class Op:
    """One op of the space: its spec, its op name, and its short name (``blur.2`` for the
    second variant of blur)."""

    spec: str
    name: str
    short: str


@dataclass(frozen=True)
class Combo:
    """A combination: its ops (in order), the pipeline spec with the base ops first, and its
    short name (``flip+blur``; ``none`` for no op beyond the base)."""

    ops: tuple[Op, ...]
    base: str = ""

    @property
    def spec(self) -> str:
        parts = [p for p in (self.base, *(o.spec for o in self.ops)) if p]
        return "+".join(parts) or "none"

    @property
    def short(self) -> str:
        return "+".join(o.short for o in self.ops) or "none"


@dataclass(frozen=True)
class Point:
    """One SSL trial of the grid: method, combination, factor levels and seed."""

    method: str
    combo: Combo
    levels: tuple[tuple[str, str], ...]
    seed: int

    @property
    def key(self) -> str:
        """A stable name of the point, readable and unique (also its run folder's name)."""
        return point_key(self.method, self.combo.short, dict(self.levels), self.seed,
                         self.combo.spec)

    def params(self) -> dict[str, str | int]:
        """The point as Optuna parameters (what the dashboard shows)."""
        return {"combo": self.combo.short, "seed": self.seed, **dict(self.levels)}


@dataclass(frozen=True)
class Space:
    """Everything a study varies."""

    methods: tuple[str, ...]
    ops: tuple[Op, ...]
    combos: tuple[Combo, ...]
    factors: tuple[tuple[str, tuple[str, ...]], ...] = ()
    seeds: tuple[int, ...] = (0,)
    base: str = ""
    preset: str = "pairs"
    extra: Mapping[str, str] = field(default_factory=dict)

    def level_grid(self) -> list[tuple[tuple[str, str], ...]]:
        """Every combination of factor levels (one empty tuple without factors)."""
        names = [n for n, _ in self.factors]
        return [tuple(zip(names, values, strict=True))
                for values in itertools.product(*(v for _, v in self.factors))]

    def points(self, method: str | None = None) -> list[Point]:
        """The grid's SSL trials, of one method or of all, in a fixed order: seed-major, so
        that a grid cut short has every combination at its first seeds."""
        methods = self.methods if method is None else (method,)
        return [Point(m, c, levels, s) for s in self.seeds for m in methods
                for levels in self.level_grid() for c in self.combos]

    def combo_by_short(self, short: str) -> Combo:
        for combo in self.combos:
            if combo.short == short:
                return combo
        raise ConfigError(f"study: no combination {short!r} in this space")


def point_key(method: str, combo: str, levels: Mapping[str, str], seed: int,
              spec: str) -> str:
    """``simclr-flip+blur-clahe=on-s0-<hash>``: readable, and a short hash of the exact spec
    and levels so that two strengths of one op never share a folder."""
    digest = hashlib.sha256(json.dumps([method, spec, sorted(levels.items()), seed])
                            .encode()).hexdigest()[:8]
    parts = [method, combo.replace("(", "").replace(")", ""),
             *(f"{k}={v}" for k, v in sorted(levels.items())), f"s{seed}", digest]
    return "-".join(p.replace("/", "_").replace(" ", "") for p in parts)


def split_list(text: str) -> list[str]:
    """``"crop,blur(sigma=0.1-2,p=0.5)"`` -> ``["crop", "blur(sigma=0.1-2,p=0.5)"]``: commas
    inside parentheses stay."""
    return _split_top(text, ",")


def parse_ops(specs: Sequence[str]) -> tuple[Op, ...]:
    """The ops of the space, each checked by building it; variants of one op are numbered.

    Raises:
        ConfigError: an op that is not one op (``crop+flip`` belongs in ``--combos``), an
            unknown op or parameter, or the same spec twice.
    """
    parsed = []
    for spec in specs:
        try:
            items = parse_spec(spec)
            if len(items) != 1:
                raise ConfigError(f"study: --ops takes single ops, got {spec!r} (give "
                                  "combinations with --combos)")
            build_ops(spec)
        except ConfigError:
            raise
        except Exception as exc:  # AugmentError and friends: one line naming the op
            raise ConfigError(f"study: op {spec!r}: {exc}") from exc
        parsed.append((spec.strip(), items[0][0]))
    specs_seen = [s for s, _ in parsed]
    dupes = sorted({s for s in specs_seen if specs_seen.count(s) > 1})
    if dupes:
        raise ConfigError(f"study: op {dupes[0]!r} given twice")
    names = [n for _, n in parsed]
    ops, counter = [], {}
    for spec, name in parsed:
        if names.count(name) > 1:
            counter[name] = counter.get(name, 0) + 1
            short = f"{name}.{counter[name]}"
        else:
            short = name
        ops.append(Op(spec, name, short))
    return tuple(ops)


def preset_combos(preset: str, ops: Sequence[Op], base: str = "") -> tuple[Combo, ...]:
    """The combinations of ``preset`` over ``ops``: ``pairs`` (singles and pairs), ``full`` or
    ``seed`` (every non-empty subset); variants of one op never meet.

    Raises:
        ConfigError: an unknown preset.
    """
    if preset not in PRESETS:
        raise ConfigError(f"study: unknown preset {preset!r}; choose one of "
                          f"{', '.join(PRESETS)}")
    sizes = (1, 2) if preset == "pairs" else range(1, len(ops) + 1)
    combos = []
    for k in sizes:
        for group in itertools.combinations(ops, k):
            if len({o.name for o in group}) == len(group):
                combos.append(Combo(tuple(group), base))
    return tuple(combos)


def explicit_combos(text: str, ops: Sequence[Op], base: str = "") -> tuple[Combo, ...]:
    """``"crop+flip,crop+blur"``: each combination's ops by op name, short name or spec (ops
    not among ``ops`` are added as given).

    Raises:
        ConfigError: an empty list, an unknown op, or one op twice in a combination.
    """
    by_ref = {o.short: o for o in ops} | {o.spec: o for o in ops}
    by_ref |= {o.name: o for o in ops if [p.name for p in ops].count(o.name) == 1}
    combos = []
    for item in split_list(text):
        members = []
        for part in _split_top(item, "+"):
            op = by_ref.get(part) or parse_ops([part])[0]
            members.append(op)
        if len({o.name for o in members}) != len(members):
            raise ConfigError(f"study: combination {item!r} holds one op twice")
        combos.append(Combo(tuple(members), base))
    if not combos:
        raise ConfigError("study: --combos is empty")
    return tuple(combos)


def _split_top(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside parentheses, each part stripped, empty parts
    dropped."""
    parts, depth, cur = [], 0, []
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def parse_factor(text: str) -> tuple[str, tuple[str, ...]]:
    """``"clahe=on,off"`` -> ``("clahe", ("on", "off"))``.

    Raises:
        ConfigError: no ``=``, no value, or a value twice.
    """
    name, sep, values = text.partition("=")
    levels = tuple(v.strip() for v in values.split(",") if v.strip())
    if not sep or not name.strip() or not levels:
        raise ConfigError(f"study: --factor {text!r}: expected NAME=V1,V2")
    if len(set(levels)) != len(levels):
        raise ConfigError(f"study: --factor {text!r} gives a level twice")
    return name.strip(), levels


def build_space(methods: Sequence[str], ops: Sequence[str] = (), preset: str = "pairs",
                combos: str | None = None, factors: Sequence[str] = (), seeds: int = 1,
                base: str = "") -> Space:
    """The study's space from its command-line pieces (:func:`parse_ops`,
    :func:`preset_combos` or :func:`explicit_combos`, :func:`parse_factor`).

    Raises:
        ConfigError: no method, an unknown one, no ops for a preset, a bad base, a factor
            twice, or fewer than one seed.
    """
    from medaug.methods.base import available_methods

    if not methods:
        raise ConfigError("study: give at least one method (--methods simclr,byol)")
    known = available_methods()
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise ConfigError(f"study: unknown method {unknown[0]!r}; registered: "
                          f"{', '.join(known)}")
    if seeds < 1:
        raise ConfigError(f"study: --seeds must be at least 1, got {seeds}")
    if base.strip():
        try:
            build_ops(base)
        except Exception as exc:
            raise ConfigError(f"study: --base {base!r}: {exc}") from exc
    op_specs = list(ops) or (list(SEED_OPS) if preset == "seed" else [])
    parsed = parse_ops(op_specs)
    if combos:
        chosen = explicit_combos(combos, parsed, base.strip())
        preset = "combos"
    else:
        if not parsed:
            raise ConfigError(f"study: preset {preset!r} needs --ops (registered ops: "
                              f"{', '.join(available_ops())})")
        chosen = preset_combos(preset, parsed, base.strip())
    base_names = {n for n, _ in parse_spec(base)} if base.strip() else set()
    clash = sorted({o.name for c in chosen for o in c.ops} & base_names)
    if clash:
        raise ConfigError(f"study: op {clash[0]!r} is in --base and in the combinations")
    parsed_factors = [parse_factor(f) for f in factors]
    names = [n for n, _ in parsed_factors]
    if len(set(names)) != len(names):
        raise ConfigError("study: a factor is given twice")
    all_ops = tuple(dict.fromkeys([*parsed, *(o for c in chosen for o in c.ops)]))
    return Space(tuple(methods), all_ops, chosen, tuple(parsed_factors),
                 tuple(range(seeds)), base.strip(), preset)
