"""A study's settings (``study.json``, or the ``study`` section of a config file) and the
check that a re-run asks for the same study."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medaug.config import from_mapping
from medaug.data.config import PrepareConfig, prepare_from_dict, prepare_to_dict
from medaug.errors import ConfigError
from medaug.evaluate.metrics import scoring_problems
from medaug.study.factors import check_factor
from medaug.study.layout import STUDY_FILE
from medaug.study.space import Space, build_space
from medaug.train.pretrain_config import PretrainConfig, pretrain_from_dict


@dataclass(frozen=True)
class StudyOptions:
    """What the study varies and how each trial is judged.

    Args:
        methods, ops, preset, combos, base, factors, seeds: the space
            (:func:`medaug.study.space.build_space`).
        fractions: label fractions of each trial's logistic probe (1 = all labels).
        bootstrap: replicates of the patient-level bootstrap of every interval.
        supervised_epochs: epochs of the supervised reference per seed and data level (0: no
            supervised reference).
        search: sample combinations with Optuna's TPE and prune with seeds as steps instead of
            running the whole grid; ``budget``: trials per method; ``pruner_startup``: trials of
            a method finished before pruning starts.
        heartbeat: seconds between a worker's heartbeats; a running trial without one for
            ``grace`` seconds is taken over (on the same host a dead worker's at once).
    """

    methods: tuple[str, ...] = ("simclr", "byol")
    ops: tuple[str, ...] = ()
    preset: str = "pairs"
    combos: str | None = None
    base: str = ""
    factors: tuple[str, ...] = ()
    seeds: int = 1
    fractions: tuple[float, ...] = (1.0,)
    bootstrap: int = 1000
    supervised_epochs: int = 0
    search: bool = False
    budget: int = 10
    pruner_startup: int = 3
    heartbeat: float = 30.0
    grace: float = 120.0

    def __post_init__(self) -> None:
        bad = []
        if not self.fractions or any(not 0 < f <= 1 for f in self.fractions):
            bad.append(f"fractions must lie in (0, 1], got {self.fractions}")
        if self.supervised_epochs < 0:
            bad.append(f"supervised_epochs must be >= 0, got {self.supervised_epochs}")
        if self.budget < 1 or self.pruner_startup < 0:
            bad.append("budget must be >= 1 and pruner_startup >= 0")
        if not 0 < self.heartbeat < self.grace:
            bad.append(f"need 0 < heartbeat < grace, got {self.heartbeat} and {self.grace}")
        bad += scoring_problems("youden", None, self.bootstrap, 0.95)
        if bad:
            raise ConfigError("study: " + "; ".join(bad))

    def space(self) -> Space:
        space = build_space(self.methods, self.ops, self.preset, self.combos, self.factors,
                            self.seeds, self.base)
        for name, _ in space.factors:
            check_factor(name, space.methods)
        return space


#: Options a re-run may change (how it runs, not what it computes).
RUNTIME = ("heartbeat", "grace")


@dataclass(frozen=True)
class StudyConfig:
    """The whole study: data, the pretraining settings every trial starts from, the space."""

    data: PrepareConfig
    pretrain: PretrainConfig
    options: StudyOptions

    def to_dict(self) -> dict[str, Any]:
        return {**prepare_to_dict(self.data), "pretrain": dataclasses.asdict(self.pretrain),
                "study": _plain(dataclasses.asdict(self.options))}


def study_from_dict(raw: dict[str, Any], source: str = "config") -> StudyConfig:
    """A :class:`StudyConfig` from nested sections (``data``, ``preprocess``, ``pretrain``,
    ``study``); other sections (``probe``, ``supervised``) are ignored.

    Raises:
        ConfigError: a bad key or value (the message names it and ``source``).
    """
    keep = {k: v for k, v in raw.items() if k in ("data", "preprocess")}
    data = prepare_from_dict(keep, source)
    pretrain = pretrain_from_dict({"pretrain": raw.get("pretrain") or {}}, source)
    options = from_mapping(StudyOptions, raw.get("study"), source, "study")
    options.space()  # every op, method and factor checked before any work
    return StudyConfig(data, pretrain, options)


def settle(folder: Path, config: StudyConfig) -> StudyConfig:
    """Write ``study.json`` for a new study, or check that ``config`` asks for the study the
    folder holds (only :data:`RUNTIME` options may change), and return it.

    Raises:
        ConfigError: the folder holds another study (the message lists what differs), or an
            unreadable ``study.json``.
    """
    from medaug.atomic import write_json

    path = Path(folder) / STUDY_FILE
    wanted = config.to_dict()
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        write_json(path, wanted)
        return config
    saved = read_study(folder)
    have = saved.to_dict()
    diffs = []
    for section in sorted(set(have) | set(wanted)):
        a, b = have.get(section) or {}, wanted.get(section) or {}
        for key in sorted(set(a) | set(b)):
            if section == "study" and key in RUNTIME:
                continue
            if a.get(key) != b.get(key):
                diffs.append(f"{section}.{key}: {a.get(key)!r} there, {b.get(key)!r} asked")
    if diffs:
        raise ConfigError(f"{path}: this folder holds another study ({'; '.join(diffs[:4])}"
                          f"{' ...' if len(diffs) > 4 else ''}); use another --out, or the "
                          "same settings to continue it")
    return config


def read_study(folder: Path) -> StudyConfig:
    """The study saved in ``folder``.

    Raises:
        ConfigError: no ``study.json`` there, or one that cannot be read.
    """
    path = Path(folder) / STUDY_FILE
    if not path.is_file():
        raise ConfigError(f"{folder}: no {STUDY_FILE} (not a study folder; start one with "
                          "`medaug study run --out` there)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc})") from exc
    return study_from_dict(raw, str(path))


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value
