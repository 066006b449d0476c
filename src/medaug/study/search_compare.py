"""A search against the grid of the same space: its compute, and whether it found the grid's
winner or one statistically tied with it on validation (``search.json`` in the search's
folder, read by the report)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medaug.atomic import write_json
from medaug.errors import DataError
from medaug.study.analysis import (
    StudyTables,
    load_study_tables,
    mean_paired_auroc_draws,
    rank_groups,
    read_test_pairs,
)

SEARCH_FILE = "search.json"


def _group_trials(tables: StudyTables, row: pd.Series) -> pd.DataFrame:
    done = tables.complete
    mask = (done["method"] == row["method"]) & (done["combo"] == row["combo"])
    for f in tables.factors:
        mask &= done[f].astype(str) == str(row[f])
    return done[mask].sort_values("seed")


def _label(tables: StudyTables, row: pd.Series) -> str:
    levels = ", ".join(f"{f}={row[f]}" for f in tables.factors)
    return f"{row['combo']}" + (f" ({levels})" if levels else "")


def paired_val_difference(folder: Path, a: pd.DataFrame, b: pd.DataFrame, n_boot: int = 2000,
                          seed: int = 0) -> dict[str, float]:
    """Mean over the seeds both groups ran of ``val AUROC(a) - val AUROC(b)``, with a patient
    bootstrap interval (the same drawn patients for every seed) and a two-sided p-value."""
    seeds = sorted(set(a["seed"]) & set(b["seed"]))
    if not seeds:
        raise DataError("the two groups share no seed")
    pairs = []
    for s in seeds:
        pa = read_test_pairs(folder, a[a["seed"] == s].iloc[0], split="val")
        pb = read_test_pairs(folder, b[b["seed"] == s].iloc[0], split="val")
        pairs.append(pa[["row", "patient_id", "label", "ssl"]].merge(
            pb[["row", "ssl"]], on="row", suffixes=("_a", "_b")))
    base = pairs[0]
    y, patients = base["label"].to_numpy(int), base["patient_id"].astype(str).to_numpy()
    pa = np.stack([p["ssl_a"].to_numpy(float) for p in pairs])
    pb = np.stack([p["ssl_b"].to_numpy(float) for p in pairs])

    point, draws = mean_paired_auroc_draws(y, patients, pa, pb, n_boot, seed)
    p = float(min(1.0, 2 * min(np.mean(draws <= 0), np.mean(draws >= 0)))) if draws.size else 1.0
    return {"difference": point, "low": float(np.quantile(draws, 0.025)),
            "high": float(np.quantile(draws, 0.975)), "p_value": p, "seeds": len(seeds)}


def _total(tables: StudyTables, column: str) -> float:
    """The sum of ``column`` over every SSL row of a study (any state: a pruned or failed
    trial's compute was spent too)."""
    if column not in tables.trials:
        return 0.0
    return float(pd.to_numeric(tables.trials[column], errors="coerce").fillna(0).sum())


def compare_search(search: Path, grid: Path) -> dict[str, Any]:
    """Write ``search/search.json``: the seconds and pretraining epochs of every SSL trial of
    the grid and of the search (pruned trials' seeds included), and per method the grid's best
    group, the search's best, and their paired validation difference *on the grid's runs*
    (the grid holds every group). The search found the winner when the two are the same group
    or the interval holds 0 (statistically tied).

    Raises:
        DataError: a folder without trials, or a search best the grid never ran.
    """
    s_tables, g_tables = load_study_tables(search), load_study_tables(grid)
    s_rank, g_rank = rank_groups(s_tables), rank_groups(g_tables)
    methods = []
    for method in sorted(g_rank.criteria):
        gb, sb = g_rank.best(method), s_rank.best(method)
        if gb is None or sb is None:
            continue
        same = _label(g_tables, gb) == _label(s_tables, sb)
        entry: dict[str, Any] = {"method": method, "grid_best": _label(g_tables, gb),
                                 "search_best": _label(s_tables, sb), "same": same}
        if not same:
            other = _group_trials(g_tables, sb)
            if other.empty:
                raise DataError(f"{grid}: the grid has no trial of the search's best "
                                f"{entry['search_best']} ({method})")
            entry.update(paired_val_difference(grid, _group_trials(g_tables, gb), other))
            entry["tied"] = bool(entry["low"] <= 0 <= entry["high"])
        else:
            entry.update(tied=True, p_value=1.0)
        methods.append(entry)
    grid_seconds, search_seconds = _total(g_tables, "seconds"), _total(s_tables, "seconds")
    grid_epochs, search_epochs = _total(g_tables, "epochs_done"), _total(s_tables, "epochs_done")
    record = {
        "grid": str(grid), "grid_seconds": round(grid_seconds, 1),
        "search_seconds": round(search_seconds, 1),
        "share_of_grid": round(search_seconds / grid_seconds, 3) if grid_seconds else None,
        "grid_epochs": int(grid_epochs), "search_epochs": int(search_epochs),
        "share_of_grid_epochs": (round(search_epochs / grid_epochs, 3) if grid_epochs
                                 else None),
        "grid_best": "; ".join(f"{m['method']}: {m['grid_best']}" for m in methods),
        "search_best": "; ".join(f"{m['method']}: {m['search_best']}" for m in methods),
        "tied": all(m["tied"] for m in methods) if methods else False,
        "tie_p": min((m["p_value"] for m in methods), default=None),
        "methods": methods,
        "notes": ["seconds and epochs: SSL trials only (references are the same for both); "
                  "epochs (pretraining epochs run, pruned trials' seeds included) do not "
                  "depend on the machine's load",
                  "tied: paired val AUROC difference over the grid's seeds, patient "
                  "bootstrap interval holding 0"]}
    write_json(Path(search) / SEARCH_FILE, record)
    return record
