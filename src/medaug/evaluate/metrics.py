"""Binary classification metrics of predicted probabilities, and the decision threshold.

Labels are ``0`` normal and ``1`` abnormal; a prediction is abnormal when its probability is
at least the threshold. Every function takes plain arrays and returns floats, ``nan`` where a
metric is undefined (AUROC on one class, sensitivity without positives), so the bootstrap can
skip such replicates. The values agree with scikit-learn's (``roc_auc_score``,
``balanced_accuracy_score``, ``f1_score``, ``cohen_kappa_score``); the tests check that.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_curve

#: The metrics reported for every evaluation, in this order.
METRIC_NAMES: tuple[str, ...] = ("auroc", "accuracy", "balanced_accuracy", "sensitivity",
                                 "specificity", "f1", "kappa")
#: Metrics that depend on the threshold (all but AUROC).
THRESHOLD_METRICS: tuple[str, ...] = METRIC_NAMES[1:]


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve ``(N,)``, ``(N,)`` -> float: the Mann-Whitney statistic with
    tied scores counted half (``nan`` when only one class is present)."""
    y = np.asarray(labels).astype(bool)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=np.float64))  # average ranks for ties
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def binary_metrics(labels: np.ndarray, probs: np.ndarray, threshold: float
                   ) -> dict[str, float]:
    """Every metric of :data:`METRIC_NAMES` for labels ``(N,)`` and probabilities ``(N,)``."""
    y = np.asarray(labels).astype(bool)
    p = np.asarray(probs, dtype=np.float64)
    pred = p >= threshold
    return {"auroc": auroc(y, p), **confusion_metrics(y, pred)}


def confusion_metrics(labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """The threshold metrics of boolean labels and predictions ``(N,)``."""
    y = np.asarray(labels).astype(bool)
    pred = np.asarray(predicted).astype(bool)
    n = y.size
    tp = float(np.sum(pred & y))
    tn = float(np.sum(~pred & ~y))
    fp = float(np.sum(pred & ~y))
    fn = float(np.sum(~pred & y))
    sens = tp / (tp + fn) if tp + fn else float("nan")
    spec = tn / (tn + fp) if tn + fp else float("nan")
    acc = (tp + tn) / n if n else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 0.0
    # Cohen's kappa: observed agreement against agreement by chance from the marginals.
    p_yes = ((tp + fp) / n) * ((tp + fn) / n) if n else float("nan")
    p_no = ((tn + fn) / n) * ((tn + fp) / n) if n else float("nan")
    chance = p_yes + p_no
    kappa = (acc - chance) / (1 - chance) if n and chance < 1 else float("nan")
    return {"accuracy": acc, "balanced_accuracy": _mean2(sens, spec), "sensitivity": sens,
            "specificity": spec, "f1": f1, "kappa": kappa}


def youden_threshold(labels: np.ndarray, probs: np.ndarray) -> float:
    """The probability threshold that maximises Youden's J (sensitivity + specificity - 1) on
    ``labels``/``probs`` (the validation split's, never the test split's).

    Raises:
        ValueError: fewer than two classes among ``labels``.
    """
    y = np.asarray(labels).astype(int)
    if len(np.unique(y)) < 2:
        raise ValueError("the threshold needs both classes among the labels it is chosen on")
    fpr, tpr, thresholds = roc_curve(y, np.asarray(probs, dtype=np.float64))
    finite = np.isfinite(thresholds)
    j = np.where(finite, tpr - fpr, -np.inf)
    best = int(np.argmax(j))  # the first (highest) threshold among ties
    return float(thresholds[best])


def parse_threshold_rule(rule: str | float) -> str | float:
    """``"youden"`` or the fixed threshold of ``rule``, a number in (0, 1).

    Raises:
        ValueError: any other rule.
    """
    if isinstance(rule, str) and rule.strip().lower() == "youden":
        return "youden"
    try:
        value = float(rule)
    except ValueError as exc:
        raise ValueError(f"threshold rule must be 'youden' or a number in (0, 1), got "
                         f"{rule!r}") from exc
    if not 0 < value < 1:
        raise ValueError(f"a fixed threshold must lie in (0, 1), got {value}")
    return value


def choose_threshold(rule: str | float, labels: np.ndarray, probs: np.ndarray) -> float:
    """The threshold of ``rule``: ``"youden"`` (chosen on ``labels``/``probs``) or a fixed
    number in (0, 1)."""
    parsed = parse_threshold_rule(rule)
    return youden_threshold(labels, probs) if parsed == "youden" else float(parsed)


def valid_threshold_rule(rule: str | float) -> bool:
    """Whether :func:`choose_threshold` accepts ``rule``."""
    try:
        parse_threshold_rule(rule)
    except (ValueError, TypeError):
        return False
    return True


def scoring_problems(threshold: str | float, class_weight: str | None,
                     bootstrap: int | None = None, ci: float | None = None) -> list[str]:
    """What is wrong with the settings every evaluation shares (the threshold rule, the
    probe's class weighting, the bootstrap's replicates and coverage): one message per
    problem, none when all is well (``None`` skips a check)."""
    bad = []
    if not valid_threshold_rule(threshold):
        bad.append(f"threshold must be 'youden' or a probability in (0, 1), got {threshold!r}")
    if class_weight not in (None, "balanced"):
        bad.append(f"class_weight must be None or 'balanced', got {class_weight!r}")
    if bootstrap is not None and bootstrap < 100:
        bad.append(f"bootstrap needs at least 100 replicates, got {bootstrap}")
    if ci is not None and not 0.5 < ci < 1:
        bad.append(f"ci must lie in (0.5, 1), got {ci}")
    return bad


def _mean2(a: float, b: float) -> float:
    return (a + b) / 2 if not (np.isnan(a) or np.isnan(b)) else float("nan")
