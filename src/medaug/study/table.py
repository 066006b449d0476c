"""``trials.csv`` and ``references.csv``: the store mirrored as tables (one row per grid
trial; a search trial gives one row per seed it ran, all with its trial number), written
atomically after every trial and by ``medaug study status``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial

from medaug.atomic import write_table
from medaug.study.layout import (
    PROBE_DIR,
    REFERENCE_COLUMNS,
    REFERENCES_DIR,
    REFERENCES_FILE,
    RUNS_DIR,
    TRIAL_COLUMNS,
    TRIALS_FILE,
)
from medaug.study.space import Space
from medaug.study.storage import WORKER
from medaug.study.worker import REFERENCE


def _row(trial: FrozenTrial, attrs: dict[str, Any], space: Space) -> dict[str, Any]:
    levels = attrs.get("levels") or {}
    row = {"trial": trial.number, "state": trial.state.name, **{k: attrs.get(k) for k in
           ("key", "method", "combo", "ops", "seed")}}
    for col in TRIAL_COLUMNS:
        row.setdefault(col, attrs.get(col))
    for name, _ in space.factors:
        row[name] = levels.get(name, trial.params.get(name))
    if row.get("key"):
        row["run"] = f"{RUNS_DIR}/{row['key']}"
        row["probe"] = f"{RUNS_DIR}/{row['key']}/{PROBE_DIR}"
    worker = trial.system_attrs.get(WORKER) or {}
    row["worker"] = f"{worker.get('host', '')}:{worker.get('pid', '')}" if worker else ""
    row["reason"] = trial.user_attrs.get("reason", "")
    return row


def trials_frame(studies: dict[str, optuna.Study], space: Space) -> pd.DataFrame:
    """Every SSL trial of the store as rows of :data:`TRIAL_COLUMNS` plus one column per
    factor (and ``worker``, ``reason``)."""
    rows = []
    for kind, study in studies.items():
        if kind == REFERENCE:
            continue
        for trial in study.get_trials(deepcopy=False):
            if "duplicate_of" in trial.user_attrs:
                continue  # a search's repeat of a combination: nothing ran
            points = trial.user_attrs.get("points")
            if points:  # a search trial: one row per seed it ran
                rows += [_row(trial, p, space) for p in points]
            else:
                rows.append(_row(trial, {**trial.user_attrs, "method": kind}, space))
    columns = [*TRIAL_COLUMNS, *(n for n, _ in space.factors)]
    return pd.DataFrame(rows, columns=columns)


def references_frame(studies: dict[str, optuna.Study], space: Space) -> pd.DataFrame:
    """Every reference of the store as rows of :data:`REFERENCE_COLUMNS` plus factors."""
    rows = []
    for trial in studies[REFERENCE].get_trials(deepcopy=False):
        attrs = trial.user_attrs
        row = {col: attrs.get(col) for col in REFERENCE_COLUMNS}
        row["state"] = trial.state.name
        row["folder"] = f"{REFERENCES_DIR}/{attrs.get('key')}"
        for name, _ in space.factors:
            row[name] = (attrs.get("levels") or {}).get(name)
        rows.append(row)
    columns = [*REFERENCE_COLUMNS, *(n for n, _ in space.factors)]
    return pd.DataFrame(rows, columns=columns)


def add_random_gain(trials: pd.DataFrame, refs: pd.DataFrame, data_factors: list[str]
                    ) -> pd.DataFrame:
    """``gain_vs_random_mean``: each trial's test AUROC minus the mean test AUROC of the
    finished random-init references (all seeds) at its levels of the data factors."""
    trials = trials.copy()
    done = refs[(refs["kind"] == "random") & (refs["state"] == "COMPLETE")]
    if trials.empty or done.empty:
        return trials
    group = [f for f in data_factors if f in done.columns]
    if group:
        means = done.groupby(group, dropna=False)["test_auroc"].mean()
        keys = [tuple(r) if len(group) > 1 else r[0] for r in trials[group].to_numpy()]
        base = np.array([means.get(k, np.nan) for k in keys], dtype=float)
    else:
        base = np.full(len(trials), done["test_auroc"].astype(float).mean())
    trials["gain_vs_random_mean"] = trials["test_auroc"].astype(float) - base
    return trials


def mirror(folder: Path, studies: dict[str, optuna.Study], space: Space) -> pd.DataFrame:
    """Write ``trials.csv`` and ``references.csv`` in ``folder``; returns the trials."""
    from medaug.study.factors import DATA_FACTORS

    refs = references_frame(studies, space)
    trials = add_random_gain(trials_frame(studies, space), refs,
                             [n for n, _ in space.factors if n in DATA_FACTORS])
    write_table(folder / TRIALS_FILE, trials)
    write_table(folder / REFERENCES_FILE, refs)
    return trials
