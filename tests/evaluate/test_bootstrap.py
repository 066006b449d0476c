"""Patient-level (cluster) bootstrap: resampling, intervals, and the paired comparison."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from medaug.evaluate.bootstrap import (
    bootstrap_metrics,
    group_resamples,
    paired_bootstrap,
)
from medaug.evaluate.metrics import METRIC_NAMES, auroc, binary_metrics


def _grouped(n_patients: int, seed: int, max_images: int = 4
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Patients with 1..max_images images each, a patient-level label and noisy probs."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, max_images + 1, size=n_patients)
    patient_label = rng.integers(0, 2, size=n_patients)
    patient_label[:2] = [0, 1]
    groups = np.repeat([f"p{i:03d}" for i in range(n_patients)], sizes)
    labels = np.repeat(patient_label, sizes)
    probs = np.clip(0.5 + 0.2 * (labels - 0.5) + rng.normal(0, 0.2, size=labels.size), 0, 1)
    # shuffle the rows so that a patient's images are not contiguous
    order = rng.permutation(labels.size)
    return labels[order], probs[order], groups[order]


def test_group_resamples_keep_patients_whole() -> None:
    """Each replicate holds every image of a drawn patient, as often as it was drawn, and
    draws as many patients as there are."""
    _, _, groups = _grouped(25, seed=1)
    sizes = Counter(groups.tolist())
    reps = list(group_resamples(groups, n_boot=30, seed=3))
    assert len(reps) == 30
    for idx in reps:
        row_counts = Counter(idx.tolist())
        draws = 0
        for patient, size in sizes.items():
            rows = np.flatnonzero(groups == patient)
            mult = {row_counts.get(int(r), 0) for r in rows}
            assert len(mult) == 1, patient  # all-or-none, same multiplicity for all images
            m = mult.pop()
            draws += m
            assert sum(row_counts.get(int(r), 0) for r in rows) == m * size
        assert draws == len(sizes)
        assert set(idx.tolist()) <= set(range(groups.size))


def test_group_resamples_actually_resample() -> None:
    """Some patients are drawn more than once and some not at all across replicates."""
    groups = np.repeat(np.arange(20), 3)
    idx = next(group_resamples(groups, n_boot=1, seed=0))
    drawn = Counter(groups[idx].tolist())
    assert max(drawn.values()) >= 6  # some patient twice (all 3 images, twice)
    assert len(drawn) < 20


def test_group_resamples_seeded() -> None:
    """Same seed same indices; a different seed different indices."""
    _, _, groups = _grouped(30, seed=2)
    a = list(group_resamples(groups, 5, seed=11))
    b = list(group_resamples(groups, 5, seed=11))
    c = list(group_resamples(groups, 5, seed=12))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def _planted(n_patients: int = 40, per_patient: int = 10, seed: int = 0
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Patients whose images share the label and (nearly) the same probability."""
    rng = np.random.default_rng(seed)
    patient_label = np.array([0, 1] * (n_patients // 2))
    patient_prob = np.clip(0.5 + 0.15 * (patient_label - 0.5)
                           + rng.normal(0, 0.15, size=n_patients), 0, 1)
    labels = np.repeat(patient_label, per_patient)
    probs = np.repeat(patient_prob, per_patient) + rng.normal(0, 1e-3, size=labels.size)
    groups = np.repeat(np.arange(n_patients), per_patient)
    return labels, probs, groups


def test_patient_interval_wider_than_image_interval() -> None:
    """Correlated images: resampling patients gives a clearly wider AUROC interval than
    resampling images (each image its own group)."""
    labels, probs, groups = _planted()
    patient = bootstrap_metrics(labels, probs, groups, 0.5, n_boot=300, seed=0)["auroc"]
    image = bootstrap_metrics(labels, probs, np.arange(labels.size), 0.5, n_boot=300,
                              seed=0)["auroc"]
    assert patient.value == image.value
    w_patient, w_image = patient.high - patient.low, image.high - image.low
    assert w_image > 0
    assert w_patient > 1.5 * w_image


def test_point_estimate_is_full_data_metric_and_inside_interval() -> None:
    labels, probs, groups = _grouped(60, seed=4)
    out = bootstrap_metrics(labels, probs, groups, 0.5, n_boot=200, seed=1)
    assert tuple(out) == METRIC_NAMES
    full = binary_metrics(labels, probs, 0.5)
    for name in METRIC_NAMES:
        assert out[name].value == pytest.approx(full[name], abs=1e-12), name
        assert out[name].low <= out[name].value <= out[name].high, name
        assert out[name].replicates == 200, name


def test_bootstrap_metrics_seeded() -> None:
    labels, probs, groups = _grouped(30, seed=5)
    a = bootstrap_metrics(labels, probs, groups, 0.5, n_boot=50, seed=3)
    b = bootstrap_metrics(labels, probs, groups, 0.5, n_boot=50, seed=3)
    c = bootstrap_metrics(labels, probs, groups, 0.5, n_boot=50, seed=4)
    assert a == b
    assert a["auroc"] != c["auroc"]


def test_level_widens_interval() -> None:
    labels, probs, groups = _grouped(40, seed=6)
    narrow = bootstrap_metrics(labels, probs, groups, 0.5, n_boot=200, seed=0, level=0.5)
    wide = bootstrap_metrics(labels, probs, groups, 0.5, n_boot=200, seed=0, level=0.95)
    assert wide["auroc"].low <= narrow["auroc"].low
    assert wide["auroc"].high >= narrow["auroc"].high
    assert (wide["auroc"].high - wide["auroc"].low) > (narrow["auroc"].high
                                                       - narrow["auroc"].low)


def test_one_class_replicates_are_dropped() -> None:
    """With one positive patient among five, replicates that miss it are dropped from AUROC
    (and sensitivity) but kept for accuracy."""
    groups = np.array(["a", "a", "b", "c", "c", "d", "e"])
    labels = np.array([1, 1, 0, 0, 0, 0, 0])
    probs = np.array([0.9, 0.8, 0.2, 0.3, 0.6, 0.1, 0.4])
    n_boot = 200
    out = bootstrap_metrics(labels, probs, groups, 0.5, n_boot=n_boot, seed=0)
    has_pos = sum(bool(labels[idx].any()) for idx in group_resamples(groups, n_boot, 0))
    assert 0 < has_pos < n_boot
    assert out["auroc"].replicates == has_pos
    assert out["sensitivity"].replicates == has_pos
    assert out["accuracy"].replicates == n_boot


def test_all_replicates_undefined_gives_nan_interval() -> None:
    out = bootstrap_metrics(np.zeros(4, dtype=int), np.array([0.1, 0.2, 0.3, 0.4]),
                            np.array([0, 0, 1, 1]), 0.5, n_boot=20, seed=0)
    assert out["auroc"].replicates == 0
    assert math.isnan(out["auroc"].low) and math.isnan(out["auroc"].high)
    assert out["specificity"].value == 1.0


def test_mismatched_lengths_raise() -> None:
    labels, probs, groups = _grouped(10, seed=7)
    with pytest.raises(ValueError):
        bootstrap_metrics(labels, probs[:-1], groups, 0.5, n_boot=5)
    with pytest.raises(ValueError):
        bootstrap_metrics(labels, probs, groups[:-1], 0.5, n_boot=5)
    with pytest.raises(ValueError):
        paired_bootstrap(labels, probs, probs[:-1], groups, n_boot=5)
    with pytest.raises(ValueError):
        paired_bootstrap(labels, probs[:-1], probs, groups, n_boot=5)
    with pytest.raises(ValueError):
        bootstrap_metrics(np.array([]), np.array([]), np.array([]), 0.5, n_boot=5)


def test_paired_identical_models() -> None:
    labels, probs, groups = _grouped(50, seed=8)
    out = paired_bootstrap(labels, probs, probs.copy(), groups, n_boot=200, seed=0)
    assert out.difference == 0.0
    assert out.low == 0.0 and out.high == 0.0
    assert out.p_value == pytest.approx(1.0)
    assert out.a == out.b == pytest.approx(auroc(labels, probs))


def _good_and_noise(n_patients: int = 120, seed: int = 9
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    labels, _, groups = _grouped(n_patients, seed=seed)
    rng = np.random.default_rng(seed + 100)
    good = np.clip(0.1 + 0.8 * labels + rng.normal(0, 0.05, size=labels.size), 0, 1)
    noise = rng.uniform(0, 1, size=labels.size)
    return labels, good, noise, groups


def test_paired_better_model_is_significant() -> None:
    """A near-perfect model against noise: the difference (A - B) is positive, its interval
    excludes 0, and p < 0.01."""
    labels, good, noise, groups = _good_and_noise()
    out = paired_bootstrap(labels, good, noise, groups, n_boot=500, seed=0)
    assert out.a == pytest.approx(auroc(labels, good))
    assert out.b == pytest.approx(auroc(labels, noise))
    assert out.difference == pytest.approx(out.a - out.b)
    assert out.difference > 0.3
    assert out.low > 0
    assert out.low <= out.difference <= out.high
    assert out.p_value < 0.01
    assert out.replicates == 500


def test_paired_sign_is_a_minus_b() -> None:
    labels, good, noise, groups = _good_and_noise()
    out = paired_bootstrap(labels, noise, good, groups, n_boot=300, seed=0)
    assert out.difference == pytest.approx(auroc(labels, noise) - auroc(labels, good))
    assert out.difference < 0
    assert out.high < 0
    assert out.p_value < 0.01


def test_paired_custom_metric() -> None:
    """Any metric of (labels, probs) can be compared, e.g. accuracy at 0.5."""
    labels, good, noise, groups = _good_and_noise(seed=10)

    def acc(y: np.ndarray, p: np.ndarray) -> float:
        return float(np.mean((p >= 0.5) == y))

    out = paired_bootstrap(labels, good, noise, groups, metric=acc, n_boot=200, seed=0)
    assert out.a == pytest.approx(acc(labels, good))
    assert out.difference == pytest.approx(acc(labels, good) - acc(labels, noise))
    assert out.low > 0
