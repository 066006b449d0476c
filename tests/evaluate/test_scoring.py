"""From prediction tables to metric rows: the threshold comes from the val split and is applied
to the test split, study-level scoring where studies have several images, seed summaries, and
paired comparisons matched on the cache row."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from medaug.evaluate.metrics import (
    METRIC_NAMES,
    THRESHOLD_METRICS,
    auroc,
    binary_metrics,
    youden_threshold,
)
from medaug.evaluate.scoring import (
    COMPARISON_COLUMNS,
    METRIC_COLUMNS,
    PREDICTION_COLUMNS,
    compare_pair,
    fmt_interval,
    levels,
    paired_rows,
    score,
    summarise,
)
from medaug.evaluate.study_level import study_level

N_BOOT = 50


def _split(split: str, n_studies: int, per_study: int, neg: tuple[float, float],
           pos: tuple[float, float], row0: int, seed: int, model: str = "m",
           probe: str = "logistic", fraction: float = 1.0, run_seed: int = 0) -> pd.DataFrame:
    """Prediction rows of one split: studies alternate normal/abnormal, each patient has two
    studies, every study ``per_study`` images; probabilities uniform in ``neg``/``pos``."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_studies):
        label = s % 2
        patient = f"{split}-p{s // 2:03d}"
        for _ in range(per_study):
            lo, hi = pos if label else neg
            rows.append({"model": model, "probe": probe, "fraction": fraction,
                         "seed": run_seed, "split": split, "row": row0 + len(rows),
                         "patient_id": patient, "study_id": f"{patient}/s{s}", "label": label,
                         "prob": float(rng.uniform(lo, hi))})
    return pd.DataFrame(rows, columns=list(PREDICTION_COLUMNS))


def _preds(per_study: int = 1, n_val: int = 30, n_test: int = 40, seed: int = 0,
           **keys: object) -> pd.DataFrame:
    """Val rows whose best threshold is high, test rows whose best threshold is low."""
    val = _split("val", n_val, per_study, (0.0, 0.7), (0.5, 1.0), 0, seed, **keys)
    test = _split("test", n_test, per_study, (0.0, 0.4), (0.2, 0.6), 10_000, seed + 1, **keys)
    return pd.concat([val, test], ignore_index=True)


def _split_rows(preds: pd.DataFrame, split: str) -> pd.DataFrame:
    return preds[preds["split"] == split]


def _youden(frame: pd.DataFrame) -> float:
    return youden_threshold(frame["label"].to_numpy(), frame["prob"].to_numpy())


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12)


def _by_level(rows: list[dict], level: str) -> dict[str, dict]:
    return {r["metric"]: r for r in rows if r["level"] == level}


# --- score: the threshold ------------------------------------------------------------------


def test_threshold_is_chosen_on_val_and_applied_to_test() -> None:
    """Every metric row carries the Youden threshold of the *val* rows (which differs from the
    test rows' own), and the threshold metrics are the test rows' at that threshold."""
    preds = _preds()
    val, test = _split_rows(preds, "val"), _split_rows(preds, "test")
    t_val, t_test = _youden(val), _youden(test)
    assert t_val != pytest.approx(t_test)  # the table can tell the two apart
    y, p = test["label"].to_numpy(), test["prob"].to_numpy()
    want = binary_metrics(y, p, t_val)
    at_test_threshold = binary_metrics(y, p, t_test)
    assert any(not _same(want[m], at_test_threshold[m]) for m in THRESHOLD_METRICS)

    rows = score(preds, n_boot=N_BOOT)
    assert {r["threshold"] for r in rows} == {t_val}
    got = _by_level(rows, "image")
    assert list(got) == list(METRIC_NAMES)
    for name in METRIC_NAMES:
        assert _same(got[name]["value"], want[name]), name
    assert got["auroc"]["value"] == pytest.approx(auroc(y, p))


def test_threshold_follows_val_probabilities_only() -> None:
    """New test probabilities leave the threshold as it was; new val probabilities move it."""
    preds = _preds()
    base = score(preds, n_boot=N_BOOT)[0]["threshold"]
    rng = np.random.default_rng(7)

    new_test = preds.copy()
    is_test = new_test["split"] == "test"
    new_test.loc[is_test, "prob"] = rng.uniform(0, 1, int(is_test.sum()))
    rows = score(new_test, n_boot=N_BOOT)
    assert {r["threshold"] for r in rows} == {base}
    # ... while the test metrics did change with the new probabilities
    assert _by_level(rows, "image")["auroc"]["value"] != pytest.approx(
        _by_level(score(preds, n_boot=N_BOOT), "image")["auroc"]["value"])

    new_val = preds.copy()
    is_val = new_val["split"] == "val"
    new_val.loc[is_val, "prob"] = rng.uniform(0, 1, int(is_val.sum()))
    rows = score(new_val, n_boot=N_BOOT)
    changed = _youden(_split_rows(new_val, "val"))
    assert changed != pytest.approx(base)
    assert {r["threshold"] for r in rows} == {changed}


def test_a_fixed_threshold_is_used_as_is() -> None:
    """``threshold_rule=0.5`` ignores the val rows: every row has 0.5 and the test metrics at
    0.5."""
    preds = _preds()
    test = _split_rows(preds, "test")
    assert _youden(_split_rows(preds, "val")) != pytest.approx(0.5)
    rows = score(preds, threshold_rule=0.5, n_boot=N_BOOT)
    assert {r["threshold"] for r in rows} == {0.5}
    want = binary_metrics(test["label"].to_numpy(), test["prob"].to_numpy(), 0.5)
    for name, row in _by_level(rows, "image").items():
        assert _same(row["value"], want[name]), name


def test_bad_threshold_rules_and_missing_test_rows_raise() -> None:
    preds = _preds()
    with pytest.raises(ValueError, match="no test predictions"):
        score(_split_rows(preds, "val"), n_boot=N_BOOT)
    with pytest.raises(ValueError, match="youden"):
        score(preds, threshold_rule="best", n_boot=N_BOOT)
    one_class_val = preds[(preds["split"] == "test") | (preds["label"] == 1)]
    with pytest.raises(ValueError, match="both classes"):
        score(one_class_val, n_boot=N_BOOT)


# --- score: rows, levels, counts ------------------------------------------------------------


def test_metric_rows_carry_keys_counts_and_intervals() -> None:
    """One row per metric with :data:`METRIC_COLUMNS`, the model's keys, ``n`` test images,
    ``n_patients`` test patients and a bootstrap interval of at most ``n_boot`` replicates."""
    preds = _preds(model="enc", probe="knn", fraction=0.1, run_seed=3)
    test = _split_rows(preds, "test")
    rows = score(preds, n_boot=N_BOOT)
    assert len(rows) == len(METRIC_NAMES)
    for row in rows:
        assert list(row) == list(METRIC_COLUMNS)
        assert (row["model"], row["probe"], row["fraction"], row["seed"]) == ("enc", "knn",
                                                                                0.1, 3)
        assert row["level"] == "image"
        assert row["n"] == len(test) == 40
        assert row["n_patients"] == test["patient_id"].nunique() == 20
        assert 0 < row["replicates"] <= N_BOOT
        assert row["ci_low"] <= row["ci_high"]
    auc = _by_level(rows, "image")["auroc"]
    assert auc["ci_low"] < auc["value"] < auc["ci_high"]


def test_same_bootstrap_seed_gives_the_same_interval() -> None:
    preds = _preds()
    a, b = score(preds, n_boot=N_BOOT, seed=1), score(preds, n_boot=N_BOOT, seed=1)
    c = score(preds, n_boot=N_BOOT, seed=2)
    assert [(r["ci_low"], r["ci_high"]) for r in a] == [(r["ci_low"], r["ci_high"]) for r in b]
    assert [(r["ci_low"], r["ci_high"]) for r in a] != [(r["ci_low"], r["ci_high"]) for r in c]


def test_study_level_only_when_some_study_has_several_images() -> None:
    single = _preds(per_study=1)
    assert levels(single) == ["image"]
    assert {r["level"] for r in score(single, n_boot=N_BOOT)} == {"image"}
    multi = _preds(per_study=3)
    assert levels(multi) == ["image", "study"]
    assert [r["level"] for r in score(multi, n_boot=N_BOOT)] == (
        ["image"] * len(METRIC_NAMES) + ["study"] * len(METRIC_NAMES))


def test_study_level_numbers_are_those_of_study_aggregates() -> None:
    """Study rows: threshold from the val *study* probabilities, metrics of the test study
    means, ``n`` the number of test studies; image rows stay per image."""
    preds = _preds(per_study=3)
    val, test = _split_rows(preds, "val"), _split_rows(preds, "test")
    sv, st = study_level(val), study_level(test)
    rows = score(preds, n_boot=N_BOOT)

    image, study = _by_level(rows, "image"), _by_level(rows, "study")
    t_study = _youden(sv)
    want = binary_metrics(st["label"].to_numpy(), st["prob"].to_numpy(), t_study)
    for name in METRIC_NAMES:
        assert study[name]["threshold"] == t_study
        assert _same(study[name]["value"], want[name]), name
        assert study[name]["n"] == len(st) == 40
        assert study[name]["n_patients"] == 20
        assert image[name]["n"] == len(test) == 120
        assert image[name]["n_patients"] == 20
        assert image[name]["threshold"] == _youden(val)
    want_image = binary_metrics(test["label"].to_numpy(), test["prob"].to_numpy(), _youden(val))
    assert _same(image["auroc"]["value"], want_image["auroc"])
    assert not _same(image["auroc"]["value"], study["auroc"]["value"])


def test_levels_are_decided_on_the_test_rows() -> None:
    """Multi-image studies only among val rows give no study level."""
    val = _split("val", 30, 3, (0.0, 0.7), (0.5, 1.0), 0, 0)
    test = _split("test", 40, 1, (0.0, 0.4), (0.2, 0.6), 10_000, 1)
    rows = score(pd.concat([val, test], ignore_index=True), n_boot=N_BOOT)
    assert {r["level"] for r in rows} == {"image"}
    assert rows[0]["threshold"] == _youden(val)


# --- summarise ------------------------------------------------------------------------------


def _metric_rows(seed: int, values: dict[str, float], low: float, high: float,
                 threshold: float, fraction: float = 1.0, level: str = "image") -> list[dict]:
    return [{"model": "m", "probe": "logistic", "fraction": fraction, "seed": seed,
             "level": level, "metric": name, "value": values.get(name, 0.5), "ci_low": low,
             "ci_high": high, "replicates": 100, "threshold": threshold, "n": 10,
             "n_patients": 5} for name in METRIC_NAMES]


def test_summarise_means_sds_seed_count_and_the_smallest_seeds_interval() -> None:
    """Seeds listed 2, 1, 5: mean and sample sd over them, three seeds, and the interval of
    seed 1 (the smallest, not the first listed)."""
    frame = pd.DataFrame([
        *_metric_rows(2, {"auroc": 0.8, "f1": 0.6}, 0.70, 0.85, 0.4),
        *_metric_rows(1, {"auroc": 0.7, "f1": 0.5}, 0.60, 0.75, 0.5),
        *_metric_rows(5, {"auroc": 0.9, "f1": 0.7}, 0.80, 0.95, 0.6),
        *_metric_rows(0, {"auroc": 0.65}, 0.55, 0.72, 0.3, fraction=0.1),
        *_metric_rows(1, {"auroc": 0.75}, 0.65, 0.80, 0.3, level="study"),
    ])
    out = summarise(frame)
    assert len(out) == 3
    full = out[(out["fraction"] == 1.0) & (out["level"] == "image")].iloc[0]
    assert full["seeds"] == 3
    assert full["auroc"] == pytest.approx(0.8)
    assert full["auroc_sd"] == pytest.approx(np.std([0.8, 0.7, 0.9], ddof=1))
    assert full["f1"] == pytest.approx(0.6)
    assert (full["auroc_low"], full["auroc_high"]) == (0.60, 0.75)
    assert full["threshold"] == pytest.approx(0.5)

    one = out[out["fraction"] == 0.1].iloc[0]
    assert one["seeds"] == 1
    assert one["auroc"] == pytest.approx(0.65)
    assert math.isnan(one["auroc_sd"])
    assert (one["auroc_low"], one["auroc_high"]) == (0.55, 0.72)

    study = out[out["level"] == "study"].iloc[0]
    assert study["seeds"] == 1 and study["auroc"] == pytest.approx(0.75)


def test_summarise_of_scored_seeds() -> None:
    """Summary of real metric rows of two seeds: the mean of their values per metric."""
    rows = [*score(_preds(seed=0, run_seed=0), n_boot=N_BOOT),
            *score(_preds(seed=10, run_seed=1), n_boot=N_BOOT)]
    frame = pd.DataFrame(rows, columns=list(METRIC_COLUMNS))
    out = summarise(frame)
    assert len(out) == 1 and out["seeds"].iat[0] == 2
    aucs = frame.loc[frame["metric"] == "auroc", "value"].to_numpy()
    assert out["auroc"].iat[0] == pytest.approx(aucs.mean())
    seed0 = frame[(frame["metric"] == "auroc") & (frame["seed"] == 0)].iloc[0]
    assert out["auroc_low"].iat[0] == seed0["ci_low"]


# --- paired comparisons ---------------------------------------------------------------------


def _two_models(per_study: int = 1, seed: int = 0) -> pd.DataFrame:
    """Models ``a`` (good) and ``b`` (weaker) on the same test rows."""
    a = _split("test", 40, per_study, (0.0, 0.6), (0.4, 1.0), 0, seed, model="a")
    b = a.copy().assign(model="b")
    b["prob"] = np.random.default_rng(seed + 100).uniform(0, 1, len(b))
    return pd.concat([a, b], ignore_index=True)


def _keys() -> dict:
    return {"model_a": "a", "model_b": "b", "probe": "logistic", "fraction": 1.0, "seed": 0}


def test_identical_predictions_differ_by_zero() -> None:
    preds = _two_models()
    a = preds[preds["model"] == "a"]
    rows = compare_pair(a, a.assign(model="b"), 100, 0, 0.95, _keys())
    assert len(rows) == 1
    row = rows[0]
    assert list(row) == list(COMPARISON_COLUMNS)
    assert row["value_a"] == row["value_b"]
    assert row["difference"] == 0.0
    assert row["ci_low"] == row["ci_high"] == 0.0
    assert row["p_value"] == 1.0


def test_rows_are_matched_on_row_not_position() -> None:
    """Shuffling either side changes nothing; ``value_b`` is b's own AUROC on its rows."""
    preds = _two_models()
    a, b = preds[preds["model"] == "a"], preds[preds["model"] == "b"]
    base = compare_pair(a, b, 100, 0, 0.95, _keys())
    shuffled_b = compare_pair(a, b.sample(frac=1.0, random_state=1), 100, 0, 0.95, _keys())
    shuffled_a = compare_pair(a.sample(frac=1.0, random_state=2), b, 100, 0, 0.95, _keys())
    assert base == shuffled_b
    for x, y in zip(base, shuffled_a, strict=True):
        assert x["difference"] == pytest.approx(y["difference"])
        assert x["value_b"] == pytest.approx(y["value_b"])
    row = base[0]
    assert row["value_a"] == pytest.approx(auroc(a["label"].to_numpy(), a["prob"].to_numpy()))
    assert row["value_b"] == pytest.approx(auroc(b["label"].to_numpy(), b["prob"].to_numpy()))
    assert row["difference"] == pytest.approx(row["value_a"] - row["value_b"])
    assert row["difference"] > 0
    assert row["n"] == 40 and row["n_patients"] == 20


def test_compare_pair_study_level() -> None:
    preds = _two_models(per_study=3)
    a, b = preds[preds["model"] == "a"], preds[preds["model"] == "b"]
    rows = compare_pair(a, b.iloc[::-1], 100, 0, 0.95, _keys())
    assert [r["level"] for r in rows] == ["image", "study"]
    sa, sb = study_level(a), study_level(b)
    study = rows[1]
    assert study["n"] == len(sa) == 40 and study["n_patients"] == 20
    assert study["value_a"] == pytest.approx(auroc(sa["label"].to_numpy(), sa["prob"].to_numpy()))
    assert study["value_b"] == pytest.approx(auroc(sb["label"].to_numpy(), sb["prob"].to_numpy()))
    assert rows[0]["n"] == 120


def test_different_test_images_or_labels_raise() -> None:
    preds = _two_models()
    a, b = preds[preds["model"] == "a"], preds[preds["model"] == "b"].copy()
    other = b.copy()
    other.loc[other.index[0], "row"] = 99_999
    with pytest.raises(ValueError, match="same test images"):
        compare_pair(a, other, 50, 0, 0.95, _keys())
    with pytest.raises(ValueError, match="same test images"):
        compare_pair(a, b.iloc[1:], 50, 0, 0.95, _keys())
    flipped = b.copy()
    flipped.loc[flipped.index[0], "label"] = 1 - flipped.loc[flipped.index[0], "label"]
    with pytest.raises(ValueError, match="different labels"):
        compare_pair(a, flipped, 50, 0, 0.95, _keys())


def test_paired_rows_per_probe_fraction_and_seed_both_models_have() -> None:
    """One comparison per (probe, fraction, seed) present for both models; others skipped; val
    rows ignored."""
    parts = []
    for probe, fraction, s in [("logistic", 1.0, 0), ("logistic", 0.1, 0), ("knn", 1.0, 1)]:
        pair = _two_models(seed=s + int(fraction * 10)).assign(probe=probe, fraction=fraction,
                                                                seed=s)
        parts.append(pair)
    only_a = _two_models(seed=9).assign(probe="knn", fraction=0.1, seed=4)
    parts.append(only_a[only_a["model"] == "a"])
    val = _split("val", 10, 1, (0, 1), (0, 1), 50_000, 3, model="a")
    parts.append(val)
    preds = pd.concat(parts, ignore_index=True)
    rows = paired_rows(preds, "a", "b", n_boot=50)
    got = {(r["probe"], r["fraction"], r["seed"]) for r in rows}
    assert got == {("logistic", 1.0, 0), ("logistic", 0.1, 0), ("knn", 1.0, 1)}
    assert all(r["model_a"] == "a" and r["model_b"] == "b" and r["n"] == 40 for r in rows)
    first = next(r for r in rows if (r["probe"], r["fraction"]) == ("logistic", 0.1))
    a = parts[1][parts[1]["model"] == "a"]
    assert first["value_a"] == pytest.approx(auroc(a["label"].to_numpy(), a["prob"].to_numpy()))


# --- formatting -----------------------------------------------------------------------------


def test_fmt_interval() -> None:
    assert fmt_interval(0.8123, 0.77, 0.851) == "0.812 [0.770, 0.851]"
    assert fmt_interval(0.8123, 0.77, 0.851, digits=2) == "0.81 [0.77, 0.85]"
    assert fmt_interval(0.8123, float("nan"), 0.9) == "0.812"
    assert fmt_interval(0.8123, 0.7, float("nan")) == "0.812"
    assert fmt_interval(float("nan"), float("nan"), float("nan")) == "nan"
