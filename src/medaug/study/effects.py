"""Effects in a study: op main effects, factor effects, the augmentation sensitivity of each
method and the op x op matrix. Pure functions of the COMPLETE trials
(:attr:`medaug.study.analysis.StudyTables.complete`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from medaug.study.analysis import StudyTables, combo_ops

EFFECT_COLUMNS = ("method", "term", "metric", "effect", "lo", "hi", "n")


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float, int]:
    """Mean of ``values`` ``(n,)`` with its Student-t interval: ``(mean, lo, hi, n)``; the
    interval is NaN when ``n < 2``."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    n = int(v.size)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    mean = float(v.mean())
    if n < 2:
        return mean, float("nan"), float("nan"), n
    half = float(student_t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) / np.sqrt(n))
    return mean, mean - half, mean + half, n


def op_main_effects(tables: StudyTables) -> pd.DataFrame:
    """Per method and op: the mean over blocks (seed, factor levels) of the mean AUROC of the
    combos holding the op minus that of the combos without it, for ``test`` and ``val``, with
    a t-interval over blocks (a block counts when it has combos on both sides).

    Columns :data:`EFFECT_COLUMNS` (``term`` the op, ``n`` the blocks).
    """
    done = tables.complete
    block_keys = ["seed", *tables.factors]
    rows = []
    for method, m in done.groupby("method", sort=True):
        ops = sorted({o for c in m["combo"] for o in combo_ops(c)})
        for op in ops:
            has = m["combo"].map(lambda c, op=op: op in combo_ops(c))
            for metric in ("test", "val"):
                col = f"{metric}_auroc"
                diffs = []
                for _, b in m.assign(_has=has).groupby(block_keys, sort=True, dropna=False):
                    if b["_has"].any() and (~b["_has"]).any():
                        with_op = b[b["_has"]].groupby("combo")[col].mean().mean()
                        without = b[~b["_has"]].groupby("combo")[col].mean().mean()
                        diffs.append(with_op - without)
                mean, lo, hi, n = t_interval(np.asarray(diffs))
                rows.append({"method": method, "term": op, "metric": metric, "effect": mean,
                             "lo": lo, "hi": hi, "n": n})
    return pd.DataFrame(rows, columns=list(EFFECT_COLUMNS))


def factor_effects(tables: StudyTables) -> pd.DataFrame:
    """Per factor with 2+ levels among the COMPLETE trials: each level against the first
    (sorted) level, pairs matched on (method, combo, seed, other factors); the difference of
    test AUROC (level - reference level), mean with t-interval, per method and pooled
    (``method == "all"``).

    Columns ``factor, level, reference`` then :data:`EFFECT_COLUMNS` (``term``
    ``factor=level``, ``n`` the pairs).
    """
    done = tables.complete
    rows = []
    for factor in tables.factors:
        levels = sorted(done[factor].dropna().astype(str).unique())
        if len(levels) < 2:
            continue
        match = ["method", "combo", "seed", *(f for f in tables.factors if f != factor)]
        d = done.assign(_level=done[factor].astype(str))
        base = d[d["_level"] == levels[0]].groupby(match, dropna=False)["test_auroc"].mean()
        for level in levels[1:]:
            other = d[d["_level"] == level].groupby(match, dropna=False)["test_auroc"].mean()
            pairs = (other - base).dropna().reset_index()
            for method, g in [*pairs.groupby("method", sort=True), ("all", pairs)]:
                mean, lo, hi, n = t_interval(g["test_auroc"].to_numpy())
                rows.append({"factor": factor, "level": level, "reference": levels[0],
                             "method": method, "term": f"{factor}={level}", "metric": "test",
                             "effect": mean, "lo": lo, "hi": hi, "n": n})
    return pd.DataFrame(rows, columns=["factor", "level", "reference", *EFFECT_COLUMNS])


def combo_means(tables: StudyTables, metric: str = "test_auroc") -> pd.DataFrame:
    """Mean ``metric`` per (method, combo) over seeds and factor levels: index ``combo``,
    one column per method (NaN where a method lacks the combo)."""
    done = tables.complete
    return done.groupby(["combo", "method"])[metric].mean().unstack("method")


def augmentation_sensitivity(tables: StudyTables, n_boot: int = 2000, seed: int = 0
                             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How much each method's test AUROC depends on the combination.

    Returns ``(spreads, differences)``: ``spreads`` one row per method (``method, combos,
    spread`` = sd over combos of the mean test AUROC, ddof 1); ``differences`` one row per pair
    of methods (``a, b, combos, difference, lo, hi`` = spread(a) - spread(b) over the combos
    both have, with a percentile bootstrap interval resampling those combos, the same ones for
    both methods; the bootstrap's random seed is fixed by ``seed``; NaN with < 3 combos).
    """
    means = combo_means(tables)
    spreads = pd.DataFrame(
        [{"method": m, "combos": int(means[m].notna().sum()),
          "spread": float(means[m].dropna().std(ddof=1)) if means[m].notna().sum() > 1
          else float("nan")} for m in means.columns],
        columns=["method", "combos", "spread"])
    rng = np.random.default_rng(seed)
    rows = []
    methods = list(means.columns)
    for i, a in enumerate(methods):
        for b in methods[i + 1:]:
            both = means[[a, b]].dropna().to_numpy(float)  # (C, 2)
            c = len(both)
            diff = float(both[:, 0].std(ddof=1) - both[:, 1].std(ddof=1)) if c > 1 \
                else float("nan")
            lo = hi = float("nan")
            if c >= 3:
                draws = []
                for _ in range(n_boot):
                    x = both[rng.integers(0, c, c)]
                    draws.append(x[:, 0].std(ddof=1) - x[:, 1].std(ddof=1))
                lo, hi = (float(q) for q in np.quantile(draws, [0.025, 0.975]))
            rows.append({"a": a, "b": b, "combos": c, "difference": diff, "lo": lo, "hi": hi})
    return spreads, pd.DataFrame(rows, columns=["a", "b", "combos", "difference", "lo", "hi"])


def op_matrix(tables: StudyTables, method: str, metric: str = "test_auroc") -> pd.DataFrame:
    """The op x op matrix of ``method``: cell ``(a, b)`` the mean ``metric`` (over seeds and
    factor levels) of the combo holding exactly ops ``a`` and ``b`` (diagonal: ``a`` alone),
    NaN where no such combo ran. Square, symmetric, index and columns the sorted op names."""
    done = tables.complete
    done = done[done["method"] == method]
    means = done.groupby("combo")[metric].mean()
    ops = sorted({o for c in means.index for o in combo_ops(c)})
    matrix = pd.DataFrame(np.nan, index=ops, columns=ops)
    for combo, value in means.items():
        names = sorted(set(combo_ops(combo)))
        if len(names) == 1:
            matrix.loc[names[0], names[0]] = value
        elif len(names) == 2:
            matrix.loc[names[0], names[1]] = matrix.loc[names[1], names[0]] = value
    return matrix
