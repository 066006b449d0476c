"""Console tables of an evaluation (rich): the summary per model, probe and label fraction,
and the paired comparisons."""

from __future__ import annotations

import math

import pandas as pd
from rich.console import Console
from rich.table import Table

from medaug.evaluate.scoring import fmt_interval

_SHOWN = (("auroc", "AUROC"), ("balanced_accuracy", "bal. acc"), ("sensitivity", "sens"),
          ("specificity", "spec"), ("kappa", "κ"))  # F1 and accuracy: in summary.csv


def cell(row: pd.Series, name: str) -> str:
    """One metric of a summary row: ``value [low, high]`` for one seed, ``mean ± sd (n
    seeds)`` for several."""
    if int(row["seeds"]) > 1:
        return f"{row[name]:.3f} ± {row[f'{name}_sd']:.3f}"
    return fmt_interval(row[name], row[f"{name}_low"], row[f"{name}_high"])


def print_summary(console: Console, summary: pd.DataFrame, title: str = "") -> None:
    """The summary table (one row per model, probe, label fraction and level)."""
    table = Table(title=f"{title} — 95% CI over patients (one seed) or mean ± sd over seeds",
                  title_justify="left")
    for col in ("model", "probe", "labels", "level", "seeds", *(h for _, h in _SHOWN),
                "threshold"):
        table.add_column(col, justify="left" if col in ("model", "probe", "level") else "right")
    for _, row in summary.iterrows():
        table.add_row(str(row["model"]), str(row["probe"]), _pct(row["fraction"]),
                      str(row["level"]), str(row["seeds"]), *(cell(row, n) for n, _ in _SHOWN),
                      f"{row['threshold']:.3f}")
    console.print(table)


def print_comparisons(console: Console, comparisons: pd.DataFrame) -> None:
    """The paired AUROC differences, one row per pair, probe, label fraction and level: with
    one seed the difference, its interval and p-value; with several the mean difference and in
    how many seeds the interval lies above 0 (a > b) or below it (a < b) (every seed's row is
    in ``comparisons.csv``)."""
    if comparisons.empty:
        return
    table = Table(title="paired AUROC difference a - b (bootstrap over test patients)",
                  title_justify="left")
    for col in ("a", "b", "probe", "labels", "level", "seeds", "AUROC a", "AUROC b",
                "difference [95% CI]", "p, or seeds whose CI excludes 0"):
        table.add_column(col, justify="left" if col in ("a", "b", "probe", "level") else "right")
    keys = ["model_a", "model_b", "probe", "fraction", "level"]
    for (a, b, probe, fraction, level), g in comparisons.groupby(keys, sort=False):
        if len(g) == 1:
            r = g.iloc[0]
            diff = fmt_interval(r["difference"], r["ci_low"], r["ci_high"])
            p = fmt_p(r["p_value"])
        else:
            diff = f"{g['difference'].mean():.3f} (mean)"
            above, below = int((g["ci_low"] > 0).sum()), int((g["ci_high"] < 0).sum())
            p = f"a>b {above}, a<b {below} of {len(g)}"
        table.add_row(str(a), str(b), str(probe), _pct(fraction), str(level), str(len(g)),
                      f"{g['value_a'].mean():.3f}", f"{g['value_b'].mean():.3f}", diff, p)
    console.print(table)


def _pct(fraction: float) -> str:
    return f"{100 * float(fraction):g}%"


def fmt_p(value: float) -> str:
    """A p-value for a table: three decimals, or scientific notation below 0.001."""
    if math.isnan(value):
        return "nan"
    return f"{value:.3f}" if value >= 0.001 else f"{value:.1e}"
