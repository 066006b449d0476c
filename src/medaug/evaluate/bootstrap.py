"""Bootstrap confidence intervals that resample patients, not images.

Images of one patient are correlated (two knees, several views of one study), so resampling
images pretends there is more evidence than there is and gives intervals that are too narrow.
Here every replicate draws *patients* with replacement and takes all their images
(Efron & Tibshirani 1993, the cluster bootstrap); the interval is the percentile interval of
the replicates. Replicates where a metric is undefined (one class only) are dropped and
counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from medaug.evaluate.metrics import METRIC_NAMES, auroc, binary_metrics


@dataclass(frozen=True)
class Interval:
    """A point estimate on the full sample with its percentile bootstrap interval."""

    value: float
    low: float
    high: float
    replicates: int  # replicates where the metric was defined


@dataclass(frozen=True)
class PairedDifference:
    """``metric(a) - metric(b)`` on the same images, its paired bootstrap interval, and the
    two-sided bootstrap p-value of "no difference"."""

    a: float
    b: float
    difference: float
    low: float
    high: float
    p_value: float
    replicates: int


def group_resamples(groups: np.ndarray, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """``n_boot`` arrays of row indices: each draws as many groups as there are, with
    replacement, and holds every row of each drawn group (a group drawn twice comes twice)."""
    codes, _ = _factorize(groups)
    order = np.argsort(codes, kind="stable")  # rows sorted by group
    counts = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rng = np.random.default_rng(seed)
    n_groups = len(counts)
    for _ in range(n_boot):
        drawn = rng.integers(0, n_groups, size=n_groups)
        lengths = counts[drawn]
        total = int(lengths.sum())
        # position k of the replicate -> start of its group + offset within it
        offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        yield order[np.repeat(starts[drawn], lengths) + offsets]


def bootstrap_metrics(labels: np.ndarray, probs: np.ndarray, groups: np.ndarray,
                      threshold: float, n_boot: int = 1000, seed: int = 0, level: float = 0.95
                      ) -> dict[str, Interval]:
    """Every metric of :data:`~medaug.evaluate.metrics.METRIC_NAMES` with a patient-level
    percentile bootstrap interval.

    Args:
        labels, probs: ``(N,)`` labels (0/1) and probabilities of abnormal.
        groups: ``(N,)`` the patient of each image: the unit of resampling.
        threshold: fixed decision threshold (chosen beforehand on the validation split).
        n_boot: replicates; ``level``: the interval's coverage.
    """
    y = np.asarray(labels).astype(int)
    p = np.asarray(probs, dtype=np.float64)
    _check(y, p, groups)
    point = binary_metrics(y, p, threshold)
    draws = {name: [] for name in METRIC_NAMES}
    for idx in group_resamples(np.asarray(groups), n_boot, seed):
        for name, value in binary_metrics(y[idx], p[idx], threshold).items():
            draws[name].append(value)
    return {name: _interval(point[name], np.asarray(draws[name]), level) for name in METRIC_NAMES}


def paired_bootstrap(labels: np.ndarray, probs_a: np.ndarray, probs_b: np.ndarray,
                     groups: np.ndarray, metric: Callable[[np.ndarray, np.ndarray], float] = auroc,
                     n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> PairedDifference:
    """The difference ``metric(a) - metric(b)`` of two models' probabilities on the same images,
    with a paired patient-level bootstrap: each replicate draws one set of patients and scores
    both models on it.

    The p-value is two-sided, ``min(1, 2 * min(P*(d <= 0), P*(d >= 0)))`` over the replicates
    ``d`` (each share with one added to numerator and denominator, so it is never 0).
    """
    y = np.asarray(labels).astype(int)
    a = np.asarray(probs_a, dtype=np.float64)
    b = np.asarray(probs_b, dtype=np.float64)
    _check(y, a, groups)
    _check(y, b, groups)
    ma, mb = metric(y, a), metric(y, b)
    diffs = []
    for idx in group_resamples(np.asarray(groups), n_boot, seed):
        d = metric(y[idx], a[idx]) - metric(y[idx], b[idx])
        if not np.isnan(d):
            diffs.append(d)
    d = np.asarray(diffs)
    if d.size == 0:
        return PairedDifference(ma, mb, ma - mb, float("nan"), float("nan"), float("nan"), 0)
    tail = (1 - level) / 2
    below = (np.sum(d <= 0) + 1) / (d.size + 1)
    above = (np.sum(d >= 0) + 1) / (d.size + 1)
    return PairedDifference(ma, mb, ma - mb, float(np.quantile(d, tail)),
                            float(np.quantile(d, 1 - tail)), float(min(1.0, 2 * min(below, above))),
                            int(d.size))


def mean_difference(a: np.ndarray, b: np.ndarray, groups: np.ndarray, n_boot: int = 2000,
                    seed: int = 0, level: float = 0.95) -> PairedDifference:
    """``mean(a) - mean(b)`` of two per-image scores ``(N,)`` on the same images (``b`` all
    zeros for ``a``'s own mean), with :func:`paired_bootstrap`'s patient-level interval and
    p-value."""
    a = np.asarray(a, dtype=np.float64)
    return paired_bootstrap(np.zeros(len(a)), a, np.asarray(b, dtype=np.float64), groups,
                            metric=_mean_of, n_boot=n_boot, seed=seed, level=level)


def _mean_of(_labels: np.ndarray, values: np.ndarray) -> float:
    return float(np.mean(values))


def _interval(point: float, draws: np.ndarray, level: float) -> Interval:
    ok = draws[~np.isnan(draws)]
    if ok.size == 0:
        return Interval(point, float("nan"), float("nan"), 0)
    tail = (1 - level) / 2
    return Interval(point, float(np.quantile(ok, tail)), float(np.quantile(ok, 1 - tail)),
                    int(ok.size))


def _check(y: np.ndarray, p: np.ndarray, groups: np.ndarray) -> None:
    if not (len(y) == len(p) == len(groups)):
        raise ValueError(f"labels, probabilities and groups must have one entry per image, got "
                         f"{len(y)}, {len(p)}, {len(groups)}")
    if len(y) == 0:
        raise ValueError("no images to bootstrap")


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniques, codes = np.unique(np.asarray(values).astype(str), return_inverse=True)
    return codes.ravel(), uniques
