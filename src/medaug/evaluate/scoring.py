"""From predictions to the numbers a paper reports.

A *prediction table* has one row per image a model scored: ``model``, ``probe``,
``fraction``, ``seed``, ``split`` (``val`` or ``test``), ``row`` (the cache row),
``patient_id``, ``study_id``, ``label``, ``prob``. :func:`score` turns the rows of one model
(one probe, label fraction and seed) into metric rows: the threshold is chosen on the *val*
rows and applied to the *test* rows, every metric gets a patient-level bootstrap interval, and
where studies have several images the same is done on study-level probabilities (the mean over
a study's images). :func:`paired_rows` compares two models on the same test images.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from medaug.evaluate.bootstrap import bootstrap_metrics, paired_bootstrap
from medaug.evaluate.metrics import METRIC_NAMES, choose_threshold
from medaug.evaluate.study_level import has_multi_image_studies, study_level

KEYS = ("model", "probe", "fraction", "seed")
PREDICTION_COLUMNS = (*KEYS, "split", "row", "patient_id", "study_id", "label", "prob")
METRIC_COLUMNS = (*KEYS, "level", "metric", "value", "ci_low", "ci_high", "replicates",
                  "threshold", "n", "n_patients")
COMPARISON_COLUMNS = ("model_a", "model_b", "probe", "fraction", "seed", "level", "metric",
                      "value_a", "value_b", "difference", "ci_low", "ci_high", "p_value",
                      "replicates", "n", "n_patients")


def levels(preds: pd.DataFrame) -> list[str]:
    """``["image"]``, plus ``"study"`` when some study has several images."""
    return ["image", "study"] if has_multi_image_studies(preds) else ["image"]


def at_level(preds: pd.DataFrame, level: str) -> pd.DataFrame:
    """Image rows as they are, or aggregated to one row per study."""
    return preds if level == "image" else study_level(preds)


def score(preds: pd.DataFrame, threshold_rule: str | float = "youden", n_boot: int = 1000,
          seed: int = 0, level_ci: float = 0.95) -> list[dict]:
    """Metric rows (:data:`METRIC_COLUMNS`) of one model's val and test predictions.

    Raises:
        ValueError: no test rows, or a val split without both classes for the threshold.
    """
    keys = {k: preds[k].iat[0] for k in KEYS}
    val, test = preds[preds["split"] == "val"], preds[preds["split"] == "test"]
    if test.empty:
        raise ValueError(f"{keys['model']}: no test predictions to score")
    rows = []
    for level in levels(test):
        v, t = at_level(val, level), at_level(test, level)
        threshold = choose_threshold(threshold_rule, v["label"].to_numpy(), v["prob"].to_numpy())
        intervals = bootstrap_metrics(t["label"].to_numpy(), t["prob"].to_numpy(),
                                      t["patient_id"].to_numpy(), threshold, n_boot, seed,
                                      level_ci)
        for name in METRIC_NAMES:
            iv = intervals[name]
            rows.append({**keys, "level": level, "metric": name, "value": iv.value,
                         "ci_low": iv.low, "ci_high": iv.high, "replicates": iv.replicates,
                         "threshold": threshold, "n": len(t),
                         "n_patients": int(t["patient_id"].nunique())})
    return rows


def score_all(predictions: pd.DataFrame, threshold_rule: str | float = "youden",
              n_boot: int = 1000, seed: int = 0, level_ci: float = 0.95) -> pd.DataFrame:
    """:func:`score` of every model, probe, label fraction and seed of a prediction table, as
    one table (:data:`METRIC_COLUMNS`)."""
    rows: list[dict] = []
    for _, group in predictions.groupby(list(KEYS), sort=False):
        rows.extend(score(group, threshold_rule, n_boot, seed, level_ci))
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))


def paired_rows(preds: pd.DataFrame, model_a: str, model_b: str, n_boot: int = 2000,
                seed: int = 0, level_ci: float = 0.95) -> list[dict]:
    """AUROC differences ``a - b`` (:data:`COMPARISON_COLUMNS`) for every probe, fraction and
    seed both models have, on the test rows they share (at image and, where it applies,
    study level)."""
    test = preds[preds["split"] == "test"]
    a_rows, b_rows = test[test["model"] == model_a], test[test["model"] == model_b]
    out = []
    for (probe, fraction, s), a in a_rows.groupby(["probe", "fraction", "seed"], sort=True):
        b = b_rows[(b_rows["probe"] == probe) & (b_rows["fraction"] == fraction)
                   & (b_rows["seed"] == s)]
        if b.empty:
            continue
        out.extend(compare_pair(a, b, n_boot, seed, level_ci,
                                {"model_a": model_a, "model_b": model_b, "probe": probe,
                                 "fraction": fraction, "seed": s}))
    return out


def compare_pair(a: pd.DataFrame, b: pd.DataFrame, n_boot: int, seed: int, level_ci: float,
                 keys: dict) -> list[dict]:
    """Paired AUROC difference of two models' test predictions ``a`` and ``b`` (matched on
    the cache ``row``).

    Raises:
        ValueError: the two do not hold the same test images with the same labels.
    """
    merged = a.merge(b[["row", "label", "prob"]], on="row", suffixes=("", "_b"),
                     validate="one_to_one")
    if len(merged) != len(a) or len(merged) != len(b):
        raise ValueError(f"{keys['model_a']} and {keys['model_b']} were not scored on the same "
                         f"test images ({len(a)} and {len(b)} images, {len(merged)} shared)")
    if (merged["label"] != merged["label_b"]).any():
        raise ValueError(f"{keys['model_a']} and {keys['model_b']}: the same test images carry "
                         "different labels (different datasets?)")
    out = []
    for level in levels(merged):
        if level == "image":
            pa, pb = merged, merged.assign(prob=merged["prob_b"])
        else:
            pa, pb = study_level(merged), study_level(merged.assign(prob=merged["prob_b"]))
        diff = paired_bootstrap(pa["label"].to_numpy(), pa["prob"].to_numpy(),
                                pb["prob"].to_numpy(), pa["patient_id"].to_numpy(), n_boot=n_boot,
                                seed=seed, level=level_ci)
        out.append({**keys, "level": level, "metric": "auroc", "value_a": diff.a,
                    "value_b": diff.b, "difference": diff.difference, "ci_low": diff.low,
                    "ci_high": diff.high, "p_value": diff.p_value, "replicates": diff.replicates,
                    "n": len(pa), "n_patients": int(pa["patient_id"].nunique())})
    return out


def summarise(metrics: pd.DataFrame, names: Sequence[str] = METRIC_NAMES) -> pd.DataFrame:
    """One row per model, probe, fraction and level: each metric's mean and standard deviation
    over seeds (``<metric>``, ``<metric>_sd``), the number of seeds, and — with one seed — its
    bootstrap interval (``<metric>_low``/``_high``; with several seeds, those of seed 0 are
    kept beside the mean for reference)."""
    rows = []
    for (model, probe, fraction, level), group in metrics.groupby(
            ["model", "probe", "fraction", "level"], sort=False):
        row = {"model": model, "probe": probe, "fraction": fraction, "level": level,
               "seeds": int(group["seed"].nunique())}
        first_seed = group["seed"].min()
        for name in names:
            m = group[group["metric"] == name]
            row[name] = float(m["value"].mean())
            row[f"{name}_sd"] = float(m["value"].std(ddof=1)) if len(m) > 1 else float("nan")
            ref = m[m["seed"] == first_seed]
            row[f"{name}_low"] = float(ref["ci_low"].iat[0]) if len(ref) else float("nan")
            row[f"{name}_high"] = float(ref["ci_high"].iat[0]) if len(ref) else float("nan")
        row["threshold"] = float(group["threshold"].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def empty_frame(columns: Sequence[str]) -> pd.DataFrame:
    """An empty table with ``columns``."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def fmt_interval(value: float, low: float, high: float, digits: int = 3) -> str:
    """``0.812 [0.770, 0.851]`` (``nan`` parts shown as such)."""
    if np.isnan(low) or np.isnan(high):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
