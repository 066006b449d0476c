"""A study worker: the loop that ``medaug study run`` starts in every process.

It enqueues the grid (once, under the study's lock: the references, then every SSL point), or
in search mode asks Optuna's TPE sampler for combinations per method, claims one waiting trial
at a time, keeps a heartbeat while it runs, and records the outcome. Trials of dead workers
are taken over (failed and enqueued again; their run folders resume from the last
checkpoint), finished trials are never recomputed, and several workers on one store share the
work without duplicates. One Optuna study per method holds its SSL trials (the pruner then
compares a trial only with trials of its own method) and one more the references.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from medaug.errors import MedaugError
from medaug.store import Interrupted
from medaug.study.config import StudyConfig
from medaug.study.layout import REFERENCES_DIR, RUNS_DIR
from medaug.study.space import Point, Space, point_key
from medaug.study.storage import Heartbeat, claim, stale, store_lock

Say = Callable[[str], None] | None
REFERENCE = "references"


class Runner(Protocol):
    """What runs the work of a trial (:class:`medaug.study.runner.TrialRunner`; tests plant
    their own)."""

    def ssl(self, point: Point, folder: Path, report: Callable[[int, float], bool]
            ) -> dict[str, Any]: ...

    def reference(self, kind: str, seed: int, levels: dict[str, str], folder: Path
                  ) -> dict[str, Any]: ...


@dataclass
class WorkerResult:
    """What one worker did: trials it finished, pruned and failed (with their reasons)."""

    finished: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def study_names(name: str, space: Space) -> dict[str, str]:
    """Optuna study names: one per method and one for the references."""
    return {m: f"{name}:{m}" for m in space.methods} | {REFERENCE: f"{name}:{REFERENCE}"}


def reference_plan(config: StudyConfig, space: Space) -> list[dict[str, Any]]:
    """The references: a random-init probe (and a supervised baseline when asked) per seed and
    level of the data factors, in seed order."""
    from medaug.study.factors import data_levels

    levels = list(dict.fromkeys(tuple(sorted(data_levels(dict(lv)).items()))
                                for lv in space.level_grid()))
    kinds = ["random"] + (["supervised"] if config.options.supervised_epochs > 0 else [])
    plan = []
    for seed in space.seeds:
        for lv in levels:
            for kind in kinds:
                key = point_key(kind, config.pretrain.backbone, dict(lv), seed, "")
                plan.append({"kind": kind, "seed": seed, "levels": dict(lv), "key": key})
    return plan


class Worker:
    """One process's share of a study in ``folder`` on ``storage``."""

    def __init__(self, folder: Path, config: StudyConfig, storage: BaseStorage, runner: Runner,
                 name: str, say: Say = print) -> None:
        self.folder, self.config, self.storage, self.runner = folder, config, storage, runner
        self.say = say or (lambda _line: None)
        self.space = config.options.space()
        self.names = study_names(name, self.space)
        self.studies = {k: self._study(k, n) for k, n in self.names.items()}

    def _study(self, kind: str, name: str) -> optuna.Study:
        opts = self.config.options
        sampler = optuna.samplers.TPESampler(seed=0, n_startup_trials=opts.pruner_startup)
        pruner = optuna.pruners.MedianPruner(n_startup_trials=opts.pruner_startup,
                                             n_warmup_steps=0)
        return optuna.create_study(storage=self.storage, study_name=name, load_if_exists=True,
                                   direction="maximize", sampler=sampler, pruner=pruner)

    # -- queue -------------------------------------------------------------------------------
    def enqueue(self) -> int:
        """Enqueue every reference (and, for the grid, every SSL point) not in the store yet,
        and take over the trials of dead workers; returns how many trials were added."""
        added = 0
        with store_lock(self.storage, self.folder):
            added += self._take_over()
            refs = self.studies[REFERENCE]
            have = _live_keys(refs)
            for ref in reference_plan(self.config, self.space):
                if ref["key"] not in have:
                    refs.enqueue_trial({"kind": ref["kind"], "seed": ref["seed"],
                                        **ref["levels"]}, user_attrs=ref,
                                       skip_if_exists=False)
                    added += 1
            if not self.config.options.search:
                for method in self.space.methods:
                    study = self.studies[method]
                    have = _live_keys(study)
                    for point in self.space.points(method):
                        if point.key not in have:
                            study.enqueue_trial(point.params(), user_attrs=_point_attrs(point))
                            added += 1
        return added

    def _take_over(self) -> int:
        """Fail the RUNNING trials whose worker is gone and enqueue each again (the same
        parameters and key: its run folder resumes); caller holds the store lock."""
        grace = self.config.options.grace
        count = 0
        for study in self.studies.values():
            for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                if not stale(trial, grace):
                    continue
                try:  # the reason first: a finished trial takes no attribute
                    self.storage.set_trial_user_attr(trial._trial_id, "reason",
                                                     "its worker died; taken over")
                    if not self.storage.set_trial_state_values(trial._trial_id,
                                                               TrialState.FAIL):
                        continue
                except optuna.exceptions.UpdateFinishedTrialError:
                    continue
                self.say(f"trial {trial.number} of {study.study_name} lost its worker; "
                         "enqueued again (its run resumes)")
                if self.config.options.search and study is not self.studies[REFERENCE]:
                    continue  # a search trial is asked afresh; its points' folders are reused
                params = trial.system_attrs.get("fixed_params", trial.params)
                attrs = {k: v for k, v in trial.user_attrs.items() if k in _ATTR_KEYS}
                study.enqueue_trial(params, user_attrs=attrs)
                count += 1
        return count

    # -- the loop ----------------------------------------------------------------------------
    def run(self, max_trials: int | None = None) -> WorkerResult:
        """Work until nothing is left to claim (or ``max_trials`` were run)."""
        result = WorkerResult()
        self.enqueue()
        done = 0
        while max_trials is None or done < max_trials:
            picked = self._next()
            if picked is None:
                break
            kind, trial_id = picked
            self._run_one(kind, trial_id, result)
            done += 1
        return result

    def _next(self) -> tuple[str, int] | None:
        trial_id = claim(self.storage, self.studies[REFERENCE])
        if trial_id is not None:
            return REFERENCE, trial_id
        picked = self._claim_seed_major()
        if picked is not None:
            return picked
        if self.config.options.search:
            for method in self.space.methods:
                study = self.studies[method]
                size = len(self.space.combos) * len(self.space.level_grid())
                if _search_count(study) < min(self.config.options.budget, size):
                    return method, study.ask()._trial_id
        with store_lock(self.storage, self.folder):
            if self._take_over():
                return self._next()
        return None

    def mirror(self) -> None:
        """Write trials.csv and references.csv from the store."""
        from medaug.study.table import mirror

        mirror(self.folder, self.studies, self.space)

    def _claim_seed_major(self) -> tuple[str, int] | None:
        """Claim the waiting SSL trial that comes first in seed-major order across methods
        (seed, then method, then enqueue order), so that a grid cut short holds every
        method at its first seeds."""
        waiting = []
        for rank, method in enumerate(self.space.methods):
            study = self.studies[method]
            for t in self.storage.get_all_trials(study._study_id, deepcopy=False,
                                                 states=(TrialState.WAITING,)):
                waiting.append((int(t.user_attrs.get("seed", 0)), rank, t.number, method,
                                t._trial_id))
        for *_, method, trial_id in sorted(waiting):
            try:
                if self.storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                    return method, trial_id
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
        return None

    def _run_one(self, kind: str, trial_id: int, result: WorkerResult) -> None:
        try:
            self._run_trial(kind, trial_id, result)
        finally:
            self.mirror()

    def _run_trial(self, kind: str, trial_id: int, result: WorkerResult) -> None:
        study = self.studies[kind]
        trial = optuna.Trial(study, trial_id)
        with Heartbeat(self.storage, trial_id, self.config.options.heartbeat):
            label = f"trial {trial.number} ({study.study_name})"
            try:
                if kind == REFERENCE:
                    value = self._reference(trial)
                elif self.config.options.search:
                    value = self._search_trial(kind, trial)
                else:
                    value = self._grid_trial(kind, trial)
            except optuna.TrialPruned:
                self.storage.set_trial_state_values(trial_id, TrialState.PRUNED)
                result.pruned.append(label)
                self.say(f"{label}: pruned")
                return
            except Interrupted:
                # give it back at once: the next worker (or this command again) resumes it
                self.storage.set_trial_user_attr(trial_id, "reason", "interrupted")
                self.storage.set_trial_state_values(trial_id, TrialState.FAIL)
                frozen = self.storage.get_trial(trial_id)
                params = frozen.system_attrs.get("fixed_params", frozen.params)
                if kind == REFERENCE or not self.config.options.search:
                    attrs = {k: v for k, v in frozen.user_attrs.items() if k in _ATTR_KEYS}
                    study.enqueue_trial(params, user_attrs=attrs)
                raise
            except (MedaugError, RuntimeError, ValueError) as exc:
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                self.storage.set_trial_user_attr(trial_id, "reason", reason)
                self.storage.set_trial_state_values(trial_id, TrialState.FAIL)
                result.failed.append((label, reason))
                self.say(f"{label}: failed ({reason}); the others go on")
                return
        self.storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [value])
        result.finished.append(label)

    def _reference(self, trial: optuna.Trial) -> float:
        attrs = trial.user_attrs
        kind, seed, levels = attrs["kind"], int(attrs["seed"]), dict(attrs["levels"])
        trial.suggest_categorical("kind", ["random", "supervised"])
        trial.suggest_categorical("seed", list(self.space.seeds))
        for name in levels:
            trial.suggest_categorical(name, dict(self.space.factors)[name])
        self.say(f"reference {kind} seed {seed} {levels or ''}".rstrip())
        numbers = self.runner.reference(kind, seed, levels,
                                        self.folder / REFERENCES_DIR / attrs["key"])
        return self._record(trial, numbers)

    def _suggest_point(self, method: str, trial: optuna.Trial, seed: int | None = None
                       ) -> Point:
        short = trial.suggest_categorical("combo", [c.short for c in self.space.combos])
        levels = tuple((name, str(trial.suggest_categorical(name, list(values))))
                       for name, values in self.space.factors)
        if seed is None:
            seed = int(trial.suggest_categorical("seed", list(self.space.seeds)))
        return Point(method, self.space.combo_by_short(str(short)), levels, seed)

    def _grid_trial(self, method: str, trial: optuna.Trial) -> float:
        point = self._suggest_point(method, trial)
        for key, value in _point_attrs(point).items():
            trial.set_user_attr(key, value)
        self.say(f"trial {trial.number}: {method} {point.combo.short} "
                 f"{dict(point.levels) or ''} seed {point.seed}".rstrip())
        numbers = self.runner.ssl(point, self.folder / RUNS_DIR / point.key,
                                  lambda _step, _value: False)
        return self._record(trial, numbers)

    def _search_trial(self, method: str, trial: optuna.Trial) -> float:
        """Seeds as steps: each seed's validation AUROC is an intermediate value; the pruner
        (median of this method's trials at the same seed) may stop the trial after any."""
        point = self._suggest_point(method, trial, seed=self.space.seeds[0])
        config_key = (point.combo.short, point.levels)
        for other in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,
                                                                    TrialState.PRUNED)):
            if (other.params.get("combo"), tuple((n, str(other.params.get(n)))
                                                 for n, _ in self.space.factors)) == config_key:
                trial.set_user_attr("duplicate_of", other.number)
                raise optuna.TrialPruned("this combination was tried already")
        trial.set_user_attr("combo", point.combo.short)
        per_seed: list[dict[str, Any]] = []
        values = []
        for step, seed in enumerate(self.space.seeds):
            p = Point(method, point.combo, point.levels, seed)
            self.say(f"search trial {trial.number}: {method} {p.combo.short} "
                     f"{dict(p.levels) or ''} seed {seed}")
            numbers = self.runner.ssl(p, self.folder / RUNS_DIR / p.key,
                                      lambda _s, _v: False)
            per_seed.append({**_point_attrs(p), **_clean(numbers)})
            trial.set_user_attr("points", per_seed)
            value = numbers.get("val_auroc")
            values.append(float("nan") if value is None else float(value))
            trial.report(values[-1], step)
            if step + 1 < len(self.space.seeds) and trial.should_prune():
                raise optuna.TrialPruned(f"pruned after seed {seed}")
        return float(sum(values) / len(values))

    def _record(self, trial: optuna.Trial, numbers: dict[str, Any]) -> float:
        for key, value in _clean(numbers).items():
            trial.set_user_attr(key, value)
        value = numbers.get("val_auroc")
        return float("nan") if value is None else float(value)


_ATTR_KEYS = ("key", "kind", "seed", "levels", "method", "combo", "ops")


def _point_attrs(point: Point) -> dict[str, Any]:
    return {"key": point.key, "method": point.method, "combo": point.combo.short,
            "ops": point.combo.spec, "seed": point.seed, "levels": dict(point.levels)}


def _live_keys(study: optuna.Study) -> set[str]:
    """Keys of the trials that are waiting, running or finished (a failed one is retried)."""
    states = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
    return {t.user_attrs.get("key") for t in study.get_trials(deepcopy=False, states=states)}


def _search_count(study: optuna.Study) -> int:
    """Trials of a search that count against its budget (a repeat of a combination does not)."""
    states = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
    return sum(1 for t in study.get_trials(deepcopy=False, states=states)
               if "duplicate_of" not in t.user_attrs)


def _clean(numbers: dict[str, Any]) -> dict[str, Any]:
    from medaug.study.trial import as_attrs

    return as_attrs(numbers)

