"""The study's analysis: pure functions from the study folder's tables to the report's tables.

Reads ``trials.csv`` and ``references.csv`` (:mod:`medaug.study.layout`) and, for the paired
gains and the per-part results, each trial's ``predictions.csv``. Only COMPLETE trials are
analysed; the others are kept for counts. A *group* is one (method, combo, factor levels)
cell of the study, averaged over its seeds. Selection uses validation only. Effects of ops and
factors are in :mod:`medaug.study.effects`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm, spearmanr

from medaug.errors import DataError
from medaug.evaluate.bootstrap import group_resamples
from medaug.evaluate.metrics import auroc
from medaug.study.layout import (
    REFERENCE_COLUMNS,
    REFERENCES_FILE,
    TRIAL_COLUMNS,
    TRIALS_FILE,
)

#: Best mean validation AUROC at or above which ranking switches to validation log-loss.
SATURATED = 0.98
#: Metrics averaged over seeds in the ranking, with their per-seed intervals.
RANKED_METRICS = ("test_auroc", "test_kappa", "test_sensitivity", "test_specificity")
PARTS_FILE = "parts.csv"
_Z = float(norm.ppf(0.975))


@dataclass(frozen=True)
class StudyTables:
    """The study folder's tables: ``trials`` and ``references`` hold every row (all states);
    ``factors`` are the trial columns after :data:`TRIAL_COLUMNS`, ``reference_factors``
    those of references.csv after :data:`REFERENCE_COLUMNS`."""

    folder: Path
    trials: pd.DataFrame
    references: pd.DataFrame
    factors: tuple[str, ...]
    reference_factors: tuple[str, ...]

    @property
    def complete(self) -> pd.DataFrame:
        """The COMPLETE trials (the only ones analysed)."""
        return self.trials[self.trials["state"] == "COMPLETE"].reset_index(drop=True)

    @property
    def state_counts(self) -> pd.DataFrame:
        """Trials counted by state: columns ``state, trials``."""
        counts = self.trials["state"].value_counts()
        return pd.DataFrame({"state": counts.index.astype(str), "trials": counts.to_numpy()})

    @property
    def group_keys(self) -> list[str]:
        """``method, combo, *factors``: the columns that define a group."""
        return ["method", "combo", *self.factors]


@dataclass(frozen=True)
class Ranking:
    """Groups of one study ranked per method, with the criterion used per method
    (``val_auroc``, higher better, or ``val_logloss``, lower better, when the method's best
    mean val AUROC is saturated)."""

    table: pd.DataFrame  # one row a group; ``rank`` 1 = recommended, per method
    criteria: dict[str, str]

    def best(self, method: str) -> pd.Series | None:
        """The recommended group of ``method`` (rank 1), ``None`` without one."""
        rows = self.table[(self.table["method"] == method) & (self.table["rank"] == 1)]
        return None if rows.empty else rows.iloc[0]


@dataclass(frozen=True)
class PooledGain:
    """Mean over seeds of ``AUROC_ssl - AUROC_twin`` on test, with the percentile interval of
    a patient-level bootstrap that resamples the same patients for every seed."""

    gain: float
    low: float
    high: float
    seeds: int
    replicates: int


def load_study_tables(folder: Path) -> StudyTables:
    """Read ``trials.csv`` and ``references.csv`` of a study folder.

    Raises:
        DataError: trials.csv missing or without the layout's columns.
    """
    folder = Path(folder)
    path = folder / TRIALS_FILE
    if not path.is_file():
        raise DataError(f"{folder}: no {TRIALS_FILE} (run the study first)")
    trials = pd.read_csv(path)
    missing = [c for c in ("state", "method", "combo", "seed", "val_auroc", "test_auroc")
               if c not in trials.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing}")
    trials["combo"] = trials["combo"].fillna("none").astype(str)
    ref_path = folder / REFERENCES_FILE
    refs = pd.read_csv(ref_path) if ref_path.is_file() else pd.DataFrame(
        columns=list(REFERENCE_COLUMNS))
    factors = tuple(c for c in trials.columns if c not in TRIAL_COLUMNS)
    ref_factors = tuple(c for c in refs.columns if c not in REFERENCE_COLUMNS)
    return StudyTables(folder, trials, refs, factors, ref_factors)


def combo_ops(combo: str) -> tuple[str, ...]:
    """The op names of a combo's short name: ``"crop+flip"`` -> ``("crop", "flip")``;
    ``"none"`` (no augmentation) holds none."""
    return tuple(t.strip() for t in str(combo).split("+") if t.strip() not in ("", "none"))


def pooled_normal_interval(diffs: np.ndarray, lows: np.ndarray, highs: np.ndarray
                           ) -> tuple[float, float, float]:
    """Mean of per-seed estimates ``(S,)`` with a pooled interval: each seed's standard error
    recovered from its 95% interval, ``(hi - lo) / (2 z)``, seeds taken as independent, so
    ``se(mean) = sqrt(sum se^2) / S``; returns ``(mean, low, high)``."""
    d = np.asarray(diffs, dtype=float)
    se = (np.asarray(highs, dtype=float) - np.asarray(lows, dtype=float)) / (2 * _Z)
    mean = float(np.mean(d))
    if d.size == 0 or np.isnan(se).any():
        return mean, float("nan"), float("nan")
    pooled = float(np.sqrt(np.sum(se**2)) / d.size)
    return mean, mean - _Z * pooled, mean + _Z * pooled


def rank_groups(tables: StudyTables, saturated: float = SATURATED) -> Ranking:
    """Group the COMPLETE trials by (method, combo, factor levels), average over seeds and rank
    per method on validation.

    Columns: the group keys, ``seeds``, ``val_auroc``, ``val_logloss``, each of
    :data:`RANKED_METRICS` with ``_lo``/``_hi`` (the mean of the per-seed intervals),
    ``diff_vs_random`` with ``diff_lo``/``diff_hi`` (:func:`pooled_normal_interval`),
    ``gain_vs_random_mean``, ``seconds``, ``criterion`` and ``rank`` (per method, 1 = best).
    A method's criterion is ``val_logloss`` (lower better) when its best mean val AUROC is at
    least ``saturated``, else ``val_auroc`` (higher better).
    """
    done = tables.complete
    keys = tables.group_keys
    rows = []
    for levels, g in done.groupby(keys, sort=True, dropna=False):
        row = dict(zip(keys, levels, strict=True))
        row["seeds"] = int(g["seed"].nunique())
        for col in ("val_auroc", "val_logloss", "gain_vs_random_mean", "seconds"):
            row[col] = float(g[col].mean()) if col in g else float("nan")
        for m in RANKED_METRICS:
            for s in ("", "_lo", "_hi"):
                row[m + s] = float(g[m + s].mean()) if m + s in g else float("nan")
        if {"diff_vs_random", "diff_lo", "diff_hi"} <= set(g.columns):
            row["diff_vs_random"], row["diff_lo"], row["diff_hi"] = pooled_normal_interval(
                g["diff_vs_random"].to_numpy(), g["diff_lo"].to_numpy(), g["diff_hi"].to_numpy())
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return Ranking(table, {})
    ranked, criteria = [], {}
    for method, g in table.groupby("method", sort=True):
        col = "val_logloss" if g["val_auroc"].max() >= saturated else "val_auroc"
        criteria[str(method)] = col
        g = g.sort_values(col, ascending=col == "val_logloss", kind="stable")
        ranked.append(g.assign(criterion=col, rank=np.arange(1, len(g) + 1)))
    return Ranking(pd.concat(ranked, ignore_index=True), criteria)


def random_reference_band(tables: StudyTables, levels: dict[str, object] | None = None,
                          kind: str = "random") -> tuple[float, float, int]:
    """Mean, sd (ddof 1) and count of the test AUROC of the references of ``kind`` over all
    seeds, at the factor ``levels`` the references share (all of them when ``None``)."""
    refs = tables.references
    if refs.empty or "kind" not in refs:
        return float("nan"), float("nan"), 0
    refs = refs[refs["kind"] == kind]
    if "state" in refs:
        refs = refs[refs["state"] == "COMPLETE"]
    for name, value in (levels or {}).items():
        if name in tables.reference_factors:
            refs = refs[refs[name].astype(str) == str(value)]
    values = refs["test_auroc"].dropna().to_numpy(dtype=float)
    if values.size == 0:
        return float("nan"), float("nan"), 0
    sd = float(np.std(values, ddof=1)) if values.size > 1 else float("nan")
    return float(values.mean()), sd, int(values.size)


def gain_vs_random_distribution(tables: StudyTables, group: pd.Series) -> dict[str, float]:
    """A group's mean test AUROC minus the mean of the random-init references at its factor
    levels (all seeds): keys ``gain``, ``random_mean``, ``random_sd``, ``random_n``."""
    levels = {f: group[f] for f in tables.factors}
    mean, sd, n = random_reference_band(tables, levels)
    return {"gain": float(group["test_auroc"]) - mean, "random_mean": mean, "random_sd": sd,
            "random_n": float(n)}


def read_test_pairs(folder: Path, trial: pd.Series, split: str = "test") -> pd.DataFrame:
    """One trial's predictions of the SSL model and its random-init twin on ``split`` (probe
    ``logistic``, all labels, label-subset seed 0), one row an image: ``row, patient_id,
    label, ssl, twin``.

    Raises:
        DataError: no predictions.csv, or not exactly one SSL model and one twin in it.
    """
    path = Path(folder) / str(trial["probe"]) / "predictions.csv"
    if not path.is_file():
        raise DataError(f"{path}: missing (trial {trial.get('trial', '?')} has no predictions)")
    p = pd.read_csv(path)
    p = p[(p["probe"] == "logistic") & np.isclose(p["fraction"].astype(float), 1.0)
          & (p["seed"] == 0) & (p["split"] == split)]
    models = sorted(p["model"].astype(str).unique())
    twins = [m for m in models if m.startswith("random-init")]
    ssl = [m for m in models if not m.startswith("random-init")]
    if len(twins) != 1 or len(ssl) != 1:
        raise DataError(f"{path}: expected one SSL model and one random-init twin on {split}, "
                        f"got {models}")
    a = p[p["model"] == ssl[0]][["row", "patient_id", "label", "prob"]].rename(
        columns={"prob": "ssl"})
    b = p[p["model"] == twins[0]][["row", "prob"]].rename(columns={"prob": "twin"})
    return a.merge(b, on="row").sort_values("row").reset_index(drop=True)


def mean_paired_auroc_draws(y: np.ndarray, patients: np.ndarray, a: np.ndarray, b: np.ndarray,
                            n_boot: int, seed: int) -> tuple[float, np.ndarray]:
    """Mean over seeds of ``AUROC(a_s) - AUROC(b_s)`` for scores ``a``, ``b`` ``(S, N)`` on the
    same images (labels ``y`` and ``patients`` ``(N,)``), and its ``n_boot`` patient-level
    bootstrap replicates (the same drawn patients for every seed; undefined ones dropped)."""

    def mean_diff(idx: np.ndarray) -> float:
        return float(np.mean([auroc(y[idx], u[idx]) - auroc(y[idx], v[idx])
                              for u, v in zip(a, b, strict=True)]))

    point = mean_diff(np.arange(len(y)))
    draws = np.array([mean_diff(idx) for idx in group_resamples(patients, n_boot, seed)])
    return point, draws[~np.isnan(draws)]


def pooled_paired_gain(folder: Path, group: pd.DataFrame, n_boot: int = 1000, seed: int = 0,
                       level: float = 0.95) -> PooledGain:
    """Pooled paired gain over random init of a group's trials (one row a seed).

    Point: mean over seeds of ``AUROC(ssl) - AUROC(twin)`` on the test images all seeds share.
    Interval: percentile interval of ``n_boot`` replicates, each drawing test patients with
    replacement (:func:`~medaug.evaluate.bootstrap.group_resamples`) and scoring every seed's
    pair on the same drawn images; replicates with an undefined AUROC are dropped.
    """
    frames = [read_test_pairs(folder, t) for _, t in group.iterrows()]
    if not frames:
        raise DataError("pooled_paired_gain: no trials in the group")
    common = set(frames[0]["row"])
    for f in frames[1:]:
        common &= set(f["row"])
    frames = [f[f["row"].isin(common)].reset_index(drop=True) for f in frames]
    y = frames[0]["label"].to_numpy().astype(int)
    patients = frames[0]["patient_id"].astype(str).to_numpy()
    ssl = np.stack([f["ssl"].to_numpy(float) for f in frames])  # (S, N)
    twin = np.stack([f["twin"].to_numpy(float) for f in frames])  # (S, N)

    point, draws = mean_paired_auroc_draws(y, patients, ssl, twin, n_boot, seed)
    if draws.size == 0:
        return PooledGain(point, float("nan"), float("nan"), len(frames), 0)
    tail = (1 - level) / 2
    return PooledGain(point, float(np.quantile(draws, tail)), float(np.quantile(draws, 1 - tail)),
                      len(frames), int(draws.size))


def rank_agreement(ranking: Ranking, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Spearman correlation of mean val AUROC and mean test AUROC over groups, per method,
    with a percentile bootstrap interval resampling groups: columns ``method, groups, rho,
    rho_lo, rho_hi`` (interval NaN with fewer than 3 groups)."""
    rng = np.random.default_rng(seed)
    rows = []
    for method, g in ranking.table.groupby("method", sort=True):
        v, t = g["val_auroc"].to_numpy(float), g["test_auroc"].to_numpy(float)
        rho = _spearman(v, t)
        lo = hi = float("nan")
        if len(g) >= 3:
            draws = []
            for _ in range(n_boot):
                i = rng.integers(0, len(g), len(g))
                draws.append(_spearman(v[i], t[i]))
            d = np.asarray(draws)
            d = d[~np.isnan(d)]
            if d.size:
                lo, hi = float(np.quantile(d, 0.025)), float(np.quantile(d, 0.975))
        rows.append({"method": method, "groups": len(g), "rho": rho, "rho_lo": lo,
                     "rho_hi": hi})
    return pd.DataFrame(rows, columns=["method", "groups", "rho", "rho_lo", "rho_hi"])


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(spearmanr(a, b).statistic)


def compute_summary(tables: StudyTables) -> pd.DataFrame:
    """Seconds per trial: one row per method (every trial with a time, whatever its state),
    one for the references and one ``total``: columns ``what, runs, mean_seconds,
    total_seconds``."""
    rows = []
    trials = tables.trials.dropna(subset=["seconds"]) if "seconds" in tables.trials else None
    if trials is not None:
        for method, g in trials.groupby("method", sort=True):
            rows.append({"what": str(method), "runs": len(g),
                         "mean_seconds": float(g["seconds"].mean()),
                         "total_seconds": float(g["seconds"].sum())})
    refs = tables.references
    if "seconds" in refs and not refs.empty:
        r = refs.dropna(subset=["seconds"])
        rows.append({"what": "references", "runs": len(r),
                     "mean_seconds": float(r["seconds"].mean()) if len(r) else float("nan"),
                     "total_seconds": float(r["seconds"].sum())})
    frame = pd.DataFrame(rows, columns=["what", "runs", "mean_seconds", "total_seconds"])
    total = float(frame["total_seconds"].sum())
    runs = int(frame["runs"].sum())
    frame.loc[len(frame)] = ["total", runs, total / runs if runs else float("nan"), total]
    return frame


def per_part(tables: StudyTables, ranking: Ranking, saturated: float = SATURATED
             ) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Per body part, when the folder has ``parts.csv`` (``row, part``) with 2+ parts: the
    val and test AUROC and val log-loss of each group's SSL model on each part (from the
    predictions, mean over seeds; ``row`` joins), and the recommended combination per
    (method, part), ranked on validation as in :func:`rank_groups`. ``None`` otherwise."""
    path = tables.folder / PARTS_FILE
    if not path.is_file():
        return None
    parts = pd.read_csv(path)
    if parts["part"].nunique() < 2:
        return None
    part_of = dict(zip(parts["row"], parts["part"].astype(str), strict=True))
    keys = tables.group_keys
    rows = []
    for levels, g in tables.complete.groupby(keys, sort=True, dropna=False):
        scores: dict[tuple[str, str], list[float]] = {}
        for _, trial in g.iterrows():
            for split in ("val", "test"):
                p = read_test_pairs(tables.folder, trial, split)
                p["part"] = p["row"].map(part_of)
                for part, q in p.dropna(subset=["part"]).groupby("part"):
                    y, s = q["label"].to_numpy(int), q["ssl"].to_numpy(float)
                    scores.setdefault((str(part), f"{split}_auroc"), []).append(auroc(y, s))
                    if split == "val":
                        scores.setdefault((str(part), "val_logloss"), []).append(_logloss(y, s))
        by_part: dict[str, dict[str, object]] = {}
        for (part, name), values in scores.items():
            entry = by_part.setdefault(part, {**dict(zip(keys, levels, strict=True)),
                                              "part": part})
            entry[name] = float(np.nanmean(values)) if values else float("nan")
        rows.extend(by_part.values())
    table = pd.DataFrame(rows)
    if table.empty:
        return None
    best = []
    for (_method, _part), g in table.groupby(["method", "part"], sort=True):
        col = "val_logloss" if g["val_auroc"].max() >= saturated else "val_auroc"
        pick = g.sort_values(col, ascending=col == "val_logloss", kind="stable").iloc[0]
        best.append({**pick.to_dict(), "criterion": col})
    return table, pd.DataFrame(best)


def _logloss(y: np.ndarray, p: np.ndarray) -> float:
    q = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))
