"""Binary metrics and decision thresholds against scikit-learn and brute-force references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    f1_score,
    recall_score,
    roc_auc_score,
)

from medaug.evaluate.metrics import (
    METRIC_NAMES,
    THRESHOLD_METRICS,
    auroc,
    binary_metrics,
    choose_threshold,
    confusion_metrics,
    youden_threshold,
)


def _labels_probs(seed: int, n: int = 120, decimals: int | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Random labels (both classes) and label-correlated probabilities; rounding makes ties."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    y[:2] = [0, 1]  # both classes, whatever the seed
    p = np.clip(0.5 + 0.25 * (y - 0.5) + rng.normal(0, 0.25, size=n), 0, 1)
    if decimals is not None:
        p = np.round(p, decimals)
    return y, p


def _j(y: np.ndarray, p: np.ndarray, t: float) -> float:
    pred = p >= t
    return float(np.mean(pred[y == 1]) - np.mean(pred[y == 0]))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("decimals", [None, 1])
def test_auroc_matches_sklearn(seed: int, decimals: int | None) -> None:
    """AUROC equals ``roc_auc_score``, with and without tied scores."""
    y, p = _labels_probs(seed, decimals=decimals)
    if decimals is not None:
        assert len(np.unique(p)) < len(p)  # the case really has ties
    assert auroc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)


def test_auroc_counts_ties_half() -> None:
    """One positive and one negative with the same score give AUROC 0.5."""
    assert auroc(np.array([0, 1]), np.array([0.3, 0.3])) == pytest.approx(0.5)
    assert auroc(np.array([0, 1]), np.array([0.2, 0.3])) == pytest.approx(1.0)
    assert auroc(np.array([0, 1]), np.array([0.3, 0.2])) == pytest.approx(0.0)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.62])
def test_threshold_metrics_match_sklearn(seed: int, threshold: float) -> None:
    """Every threshold metric equals scikit-learn's on ``pred = prob >= threshold``."""
    y, p = _labels_probs(seed, decimals=2)
    pred = (p >= threshold).astype(int)
    got = binary_metrics(y, p, threshold)
    assert tuple(got) == METRIC_NAMES
    expected = {
        "auroc": roc_auc_score(y, p),
        "accuracy": accuracy_score(y, pred),
        "balanced_accuracy": balanced_accuracy_score(y, pred),
        "sensitivity": recall_score(y, pred, pos_label=1),
        "specificity": recall_score(y, pred, pos_label=0),
        "f1": f1_score(y, pred),
        "kappa": cohen_kappa_score(y, pred),
    }
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name


def test_prediction_is_abnormal_at_the_threshold() -> None:
    """A probability equal to the threshold counts as abnormal."""
    got = binary_metrics(np.array([1, 0]), np.array([0.5, 0.4999]), 0.5)
    assert got["sensitivity"] == 1.0
    assert got["specificity"] == 1.0
    assert got["accuracy"] == 1.0


def test_undefined_metrics_are_nan() -> None:
    """One class only: AUROC nan; no positives: sensitivity nan; no negatives: specificity."""
    negatives = binary_metrics(np.zeros(5, dtype=int), np.linspace(0.1, 0.9, 5), 0.5)
    assert math.isnan(negatives["auroc"])
    assert math.isnan(negatives["sensitivity"])
    assert math.isnan(negatives["balanced_accuracy"])
    assert negatives["specificity"] == pytest.approx(2 / 5)  # 0.5, 0.7, 0.9 flagged
    assert negatives["accuracy"] == pytest.approx(2 / 5)
    positives = binary_metrics(np.ones(4, dtype=int), np.array([0.1, 0.6, 0.7, 0.8]), 0.5)
    assert math.isnan(positives["auroc"])
    assert math.isnan(positives["specificity"])
    assert positives["sensitivity"] == pytest.approx(3 / 4)


def test_confusion_metrics_keys() -> None:
    """The confusion metrics are exactly the threshold metrics."""
    got = confusion_metrics(np.array([0, 1, 1]), np.array([False, True, False]))
    assert set(got) == set(THRESHOLD_METRICS)
    assert got["sensitivity"] == pytest.approx(0.5)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
@pytest.mark.parametrize("decimals", [None, 1])
def test_youden_threshold_maximises_j(seed: int, decimals: int | None) -> None:
    """The Youden threshold reaches the brute-force maximum of tpr - fpr over the probs."""
    y, p = _labels_probs(seed, n=80, decimals=decimals)
    t = youden_threshold(y, p)
    best = max(_j(y, p, float(u)) for u in np.unique(p))
    assert _j(y, p, t) == pytest.approx(best, abs=1e-12)
    assert np.any(np.isclose(p, t))  # one of the given probabilities


def test_youden_threshold_separable() -> None:
    """On separable data the threshold separates the classes perfectly."""
    y = np.array([0, 0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.9])
    t = youden_threshold(y, p)
    assert 0.3 < t <= 0.7
    assert _j(y, p, t) == 1.0


@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1]])
def test_youden_threshold_needs_both_classes(labels: list[int]) -> None:
    with pytest.raises(ValueError, match="both classes"):
        youden_threshold(np.array(labels), np.array([0.1, 0.5, 0.9]))


def test_choose_threshold_youden_and_fixed() -> None:
    """``'youden'`` (any case/spaces) defers to Youden; a number is returned as a float."""
    y, p = _labels_probs(7, n=60)
    assert choose_threshold("youden", y, p) == youden_threshold(y, p)
    assert choose_threshold(" Youden ", y, p) == youden_threshold(y, p)
    assert choose_threshold(0.3, y, p) == 0.3
    assert choose_threshold("0.25", y, p) == 0.25


@pytest.mark.parametrize("rule", [0, 1, 0.0, 1.0, -0.5, "abc", "1.5"])
def test_choose_threshold_rejects_bad_rules(rule: object) -> None:
    y, p = _labels_probs(8, n=20)
    with pytest.raises(ValueError):
        choose_threshold(rule, y, p)  # type: ignore[arg-type]
