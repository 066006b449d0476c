"""Weighted kNN on cosine similarity against brute-force and sklearn references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from torch import Tensor

from medaug.evaluate.knn import knn_accuracy, knn_scores


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _clusters(n_per: int, dim: int = 8, noise: float = 0.1, seed: int = 0
              ) -> tuple[Tensor, Tensor]:
    """Two clusters around orthogonal directions ``e0`` and ``e1``, labelled 0 and 1."""
    g = _gen(seed)
    centres = torch.eye(dim)[:2] * 3.0
    labels = torch.arange(2).repeat_interleave(n_per)
    x = centres[labels] + noise * torch.randn((2 * n_per, dim), generator=g)
    return x, labels


def test_scores_rows_sum_to_one() -> None:
    """Scores are ``(M, C)``, non-negative, and every row sums to 1."""
    g = _gen(0)
    bank, query = torch.randn((50, 8), generator=g), torch.randn((20, 8), generator=g)
    labels = torch.randint(0, 3, (50,), generator=g)
    scores = knn_scores(bank, labels, query, k=7, num_classes=3)
    assert scores.shape == (20, 3)
    assert bool((scores >= 0).all())
    torch.testing.assert_close(scores.sum(dim=1), torch.ones(20), atol=1e-6, rtol=0)


def test_chunks_do_not_change_the_scores() -> None:
    """Scoring the query in chunks of 3 gives the scores of one chunk."""
    g = _gen(1)
    bank, query = torch.randn((30, 5), generator=g), torch.randn((10, 5), generator=g)
    labels = torch.randint(0, 2, (30,), generator=g)
    torch.testing.assert_close(knn_scores(bank, labels, query, k=5, chunk=3),
                               knn_scores(bank, labels, query, k=5))


def test_separated_clusters_are_classified_perfectly() -> None:
    """Two well-separated clusters labelled by cluster: accuracy and balanced accuracy 1."""
    bank, bank_labels = _clusters(40, seed=0)
    query, query_labels = _clusters(20, seed=1)
    acc, bal = knn_accuracy(bank, bank_labels, query, query_labels, k=5)
    assert acc == 1.0
    assert bal == 1.0


def test_flipped_labels_give_zero_accuracy() -> None:
    """The same clusters with the query labels swapped: accuracy 0 (the check can fail)."""
    bank, bank_labels = _clusters(40, seed=0)
    query, query_labels = _clusters(20, seed=1)
    acc, bal = knn_accuracy(bank, bank_labels, query, 1 - query_labels, k=5)
    assert acc == 0.0 and bal == 0.0


def test_independent_labels_give_chance_accuracy() -> None:
    """Labels independent of the features: accuracy near 0.5 (400 points, ~4 sd margin)."""
    g = _gen(2)
    bank, query = torch.randn((400, 16), generator=g), torch.randn((400, 16), generator=g)
    bank_labels = torch.randint(0, 2, (400,), generator=g)
    query_labels = torch.randint(0, 2, (400,), generator=g)
    acc, bal = knn_accuracy(bank, bank_labels, query, query_labels, k=20)
    assert 0.4 <= acc <= 0.6
    assert 0.4 <= bal <= 0.6


def _brute_force_nearest(bank: np.ndarray, labels: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Label of each query row's nearest bank row by cosine similarity, by explicit loops."""
    out = []
    for q in query:
        best, best_sim = -1, -np.inf
        for j, b in enumerate(bank):
            sim = float(q @ b) / (np.linalg.norm(q) * np.linalg.norm(b))
            if sim > best_sim:
                best, best_sim = j, sim
        out.append(labels[best])
    return np.array(out)


def test_k1_matches_brute_force_nearest_neighbour() -> None:
    """With ``k = 1`` the prediction is the nearest bank row's label and the score one-hot."""
    g = _gen(3)
    bank, query = torch.randn((30, 6), generator=g), torch.randn((25, 6), generator=g)
    labels = torch.randint(0, 4, (30,), generator=g)
    want = _brute_force_nearest(bank.double().numpy(), labels.numpy(), query.double().numpy())
    scores = knn_scores(bank, labels, query, k=1, num_classes=4)
    assert np.array_equal(scores.argmax(dim=1).numpy(), want)
    torch.testing.assert_close(scores, torch.nn.functional.one_hot(torch.from_numpy(want), 4)
                               .float())
    assert len(np.unique(want)) > 1  # the reference is not constant


def test_cosine_not_euclidean() -> None:
    """Similarity is cosine: a far bank point in the query's direction beats a near one at a
    right angle."""
    bank = torch.tensor([[100.0, 0.0], [0.0, 0.5]])
    labels = torch.tensor([0, 1])
    query = torch.tensor([[0.5, 0.1]])
    assert int(knn_scores(bank, labels, query, k=1).argmax()) == 0


def test_balanced_accuracy_matches_sklearn() -> None:
    """On an imbalanced three-class query set, accuracy and balanced accuracy equal
    sklearn's on the same predictions up to float32 (and differ from each other)."""
    g = _gen(4)
    counts = [70, 20, 10]
    dim = 6
    centres = torch.eye(dim)[:3] * 1.0

    def sample(ns: list[int]) -> tuple[Tensor, Tensor]:
        y = torch.cat([torch.full((n,), c) for c, n in enumerate(ns)])
        return centres[y] + 0.8 * torch.randn((len(y), dim), generator=g), y

    bank, bank_labels = sample([40, 40, 40])
    query, query_labels = sample(counts)
    pred = knn_scores(bank, bank_labels, query, k=10, num_classes=3).argmax(dim=1).numpy()
    acc, bal = knn_accuracy(bank, bank_labels, query, query_labels, k=10)
    truth = query_labels.numpy()
    assert acc == pytest.approx(accuracy_score(truth, pred), abs=1e-6)
    assert bal == pytest.approx(balanced_accuracy_score(truth, pred), abs=1e-6)
    assert abs(acc - bal) > 1e-3
    assert 0.0 < bal < 1.0


def test_balanced_accuracy_ignores_classes_absent_from_the_query() -> None:
    """A bank class that the query lacks counts in no recall (as in sklearn, which warns)."""
    g = _gen(5)
    bank = torch.randn((60, 4), generator=g)
    bank_labels = torch.randint(0, 3, (60,), generator=g)
    query = torch.randn((40, 4), generator=g)
    query_labels = torch.tensor([0] * 30 + [1] * 10)
    pred = knn_scores(bank, bank_labels, query, k=3, num_classes=3).argmax(dim=1).numpy()
    assert (pred == 2).any()  # some predictions name the class the query lacks
    _, bal = knn_accuracy(bank, bank_labels, query, query_labels, k=3)
    with pytest.warns(UserWarning, match="y_pred contains classes not in y_true"):
        want = balanced_accuracy_score(query_labels.numpy(), pred)
    assert bal == pytest.approx(want, abs=1e-6)


def test_k_larger_than_bank_is_clipped() -> None:
    """``k`` above the bank size uses the whole bank instead of failing."""
    g = _gen(6)
    bank, query = torch.randn((3, 4), generator=g), torch.randn((5, 4), generator=g)
    labels = torch.tensor([0, 1, 1])
    big = knn_scores(bank, labels, query, k=50)
    torch.testing.assert_close(big, knn_scores(bank, labels, query, k=3))
    torch.testing.assert_close(big.sum(dim=1), torch.ones(5))
    acc, _ = knn_accuracy(bank, labels, query, torch.tensor([0, 1, 0, 1, 0]), k=50)
    assert 0.0 <= acc <= 1.0


def test_empty_bank_is_a_value_error() -> None:
    """An empty bank is a ValueError, not an index error deep in topk."""
    with pytest.raises(ValueError, match="non-empty bank"):
        knn_scores(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), torch.randn(3, 4))


def test_empty_bank_is_a_value_error_in_knn_accuracy() -> None:
    """knn_accuracy should pass knn_scores' ValueError on for an empty bank."""
    with pytest.raises(ValueError, match="non-empty bank"):
        knn_accuracy(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), torch.randn(3, 4),
                     torch.tensor([0, 1, 0]))


def test_small_temperature_stays_finite() -> None:
    """A small temperature sharpens the vote; the scores must stay finite and sum to 1."""
    g = _gen(7)
    bank = torch.randn((5, 4), generator=g)
    scores = knn_scores(bank, torch.tensor([0, 1, 1, 0, 1]), bank[:2], k=3, temperature=0.01)
    assert bool(torch.isfinite(scores).all())
    torch.testing.assert_close(scores.sum(dim=1), torch.ones(2))
