"""Logistic and kNN probes on frozen features, against planted data and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from medaug.evaluate.metrics import auroc
from medaug.evaluate.probe import DEFAULT_CS, fit_logistic_probe, knn_probe


def _onehot_split(n: int, rng: np.random.Generator, extra: int = 6, noise: float = 0.1
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Features = the label's one-hot plus small noise, and ``extra`` pure-noise columns."""
    y = rng.integers(0, 2, size=n)
    y[:2] = [0, 1]
    x = np.concatenate([np.eye(2)[y], np.zeros((n, extra))], axis=1)
    return x + noise * rng.normal(size=x.shape), y


def _informative(n: int, rng: np.random.Generator, dim: int = 10, shift: float = 0.8
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping classes: the label shifts a few columns; scales differ across columns."""
    y = rng.integers(0, 2, size=n)
    y[:2] = [0, 1]
    x = rng.normal(size=(n, dim))
    x[:, :3] += shift * y[:, None]
    return x * np.linspace(0.5, 5.0, dim) + np.arange(dim), y


def test_probe_on_label_features_is_perfect() -> None:
    rng = np.random.default_rng(0)
    x_tr, y_tr = _onehot_split(200, rng)
    x_va, y_va = _onehot_split(100, rng)
    x_te, y_te = _onehot_split(100, rng)
    probe = fit_logistic_probe(x_tr, y_tr, x_va, y_va)
    assert auroc(y_te, probe.predict_proba(x_te)) == 1.0
    assert probe.val_auroc == 1.0
    # every C separates the validation split: ties go to the strongest regularisation
    chosen = probe.C
    assert chosen == min(DEFAULT_CS)


def test_probe_on_noise_is_chance() -> None:
    rng = np.random.default_rng(1)
    x_tr, y_tr = rng.normal(size=(200, 8)), rng.integers(0, 2, size=200)
    x_va, y_va = rng.normal(size=(100, 8)), rng.integers(0, 2, size=100)
    x_te, y_te = rng.normal(size=(2000, 8)), rng.integers(0, 2, size=2000)
    probe = fit_logistic_probe(x_tr, y_tr, x_va, y_va)
    assert abs(auroc(y_te, probe.predict_proba(x_te)) - 0.5) < 0.1


def test_c_is_chosen_on_validation() -> None:
    rng = np.random.default_rng(2)
    x_tr, y_tr = _informative(150, rng, dim=20, shift=0.5)
    x_va, y_va = _informative(150, rng, dim=20, shift=0.5)
    cs = (1e-3, 1e-2, 0.1, 1.0, 10.0)
    probe = fit_logistic_probe(x_tr, y_tr, x_va, y_va, cs=cs)
    assert set(probe.grid) == set(cs)
    assert len(probe.grid) == len(cs)
    assert probe.C in cs
    assert probe.grid[probe.C] == max(probe.grid.values())
    assert probe.val_auroc == probe.grid[probe.C]
    # the grid's value is the AUROC of the chosen probe on the validation split
    assert auroc(y_va, probe.predict_proba(x_va)) == pytest.approx(probe.val_auroc, abs=1e-12)
    # the first C reaching the maximum (strongest regularisation among ties) is kept
    best = max(probe.grid.values())
    chosen = probe.C
    assert chosen == min(c for c, v in probe.grid.items() if v >= best - 1e-12)


def test_weak_regularisation_wins_when_validation_says_so() -> None:
    """A nuisance column must be subtracted: strong regularisation cannot, so validation picks
    a large C (the choice follows the validation AUROC, not the grid's order)."""
    rng = np.random.default_rng(2)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 2, size=n)
        y[:2] = [0, 1]
        nuisance = 3 * rng.normal(size=n)
        x = np.c_[y + nuisance + 0.3 * rng.normal(size=n),
                  nuisance + 0.3 * rng.normal(size=n), rng.normal(size=(n, 8))]
        return x, y

    x_tr, y_tr = split(150)
    x_va, y_va = split(150)
    cs = (1e-4, 1e-2, 1.0, 100.0)
    probe = fit_logistic_probe(x_tr, y_tr, x_va, y_va, cs=cs)
    chosen = probe.C
    assert chosen > min(cs)
    assert probe.grid[probe.C] == max(probe.grid.values())
    assert probe.val_auroc > probe.grid[min(cs)] + 0.1


def test_as_linear_matches_decision_and_proba() -> None:
    rng = np.random.default_rng(3)
    x_tr, y_tr = _informative(200, rng)
    x_va, y_va = _informative(100, rng)
    x_te, _ = _informative(100, rng)
    probe = fit_logistic_probe(x_tr, y_tr, x_va, y_va)
    layer = probe.as_linear()
    assert isinstance(layer, torch.nn.Linear)
    assert (layer.in_features, layer.out_features) == (x_tr.shape[1], 1)
    with torch.no_grad():
        logits = layer(torch.as_tensor(x_te, dtype=torch.float32))[:, 0].double().numpy()
    np.testing.assert_allclose(logits, probe.decision(x_te), atol=1e-4, rtol=1e-5)
    np.testing.assert_allclose(torch.sigmoid(torch.as_tensor(logits)).numpy(),
                               probe.predict_proba(x_te), atol=1e-5, rtol=0)


def test_matches_sklearn_pipeline() -> None:
    """The probe's probabilities are those of StandardScaler + LogisticRegression(C)."""
    rng = np.random.default_rng(4)
    x_tr, y_tr = _informative(200, rng)
    x_va, y_va = _informative(100, rng)
    x_te, _ = _informative(150, rng)
    probe = fit_logistic_probe(x_tr, y_tr, x_va, y_va)
    ref = make_pipeline(StandardScaler(), LogisticRegression(C=probe.C, max_iter=2000))
    ref.fit(x_tr, y_tr)
    np.testing.assert_allclose(probe.predict_proba(x_te), ref.predict_proba(x_te)[:, 1],
                               atol=1e-6, rtol=0)
    np.testing.assert_allclose(probe.decision(x_te), ref.decision_function(x_te),
                               atol=1e-5, rtol=0)


def test_balanced_class_weight_changes_the_fit() -> None:
    """On 9:1 data, balanced weights move the intercept towards the rare class."""
    rng = np.random.default_rng(5)
    y_tr = np.r_[np.zeros(180, dtype=int), np.ones(20, dtype=int)]
    x_tr = rng.normal(size=(200, 5))
    x_tr[:, 0] += y_tr
    x_va, y_va = _informative(100, rng, dim=5)
    plain = fit_logistic_probe(x_tr, y_tr, x_va, y_va, cs=(1.0,))
    balanced = fit_logistic_probe(x_tr, y_tr, x_va, y_va, cs=(1.0,), class_weight="balanced")
    assert not np.allclose(plain.coef, balanced.coef)
    assert balanced.intercept > plain.intercept + 0.5
    assert balanced.predict_proba(x_tr).mean() > plain.predict_proba(x_tr).mean()


def test_one_class_raises() -> None:
    rng = np.random.default_rng(6)
    x, y = _informative(40, rng)
    with pytest.raises(ValueError, match="training"):
        fit_logistic_probe(x, np.zeros(40, dtype=int), x, y)
    with pytest.raises(ValueError, match="validation"):
        fit_logistic_probe(x, y, x, np.ones(40, dtype=int))
    with pytest.raises(ValueError):
        fit_logistic_probe(x, y, x, y, cs=())


def test_knn_probe_on_separable_clusters() -> None:
    rng = np.random.default_rng(7)
    centres = np.eye(8)[:2] * 3.0

    def clusters(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 2, size=n)
        y[:2] = [0, 1]
        return centres[y] + 0.1 * rng.normal(size=(n, 8)), y

    x_tr, y_tr = clusters(100)
    x_te, y_te = clusters(60)
    probs = knn_probe(x_tr, y_tr, x_te, k=10)
    assert probs.shape == (60,)
    assert probs.dtype == np.float64
    assert np.all((probs >= 0) & (probs <= 1))
    assert auroc(y_te, probs) == 1.0
    assert np.all(probs[y_te == 1] > 0.5) and np.all(probs[y_te == 0] < 0.5)


def test_to_arrays_and_from_arrays_give_the_same_probe() -> None:
    from medaug.evaluate.probe import LogisticProbe

    rng = np.random.default_rng(3)
    x, y = _informative(80, rng)
    xv, yv = _informative(40, rng)
    probe = fit_logistic_probe(x, y, xv, yv)
    back = LogisticProbe.from_arrays({k: np.asarray(v) for k, v in probe.to_arrays().items()})
    assert back.C == probe.C and back.val_auroc == probe.val_auroc
    np.testing.assert_array_equal(back.predict_proba(xv), probe.predict_proba(xv))
    with pytest.raises(ValueError, match="coef"):
        LogisticProbe.from_arrays({k: v for k, v in probe.to_arrays().items() if k != "coef"})
    with pytest.raises(ValueError, match="lengths"):
        LogisticProbe.from_arrays({**probe.to_arrays(), "coef": np.ones(2)})
