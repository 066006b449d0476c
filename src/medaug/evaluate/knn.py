"""Weighted k-nearest-neighbour classification on cosine similarity (Wu et al. 2018,
"Unsupervised Feature Learning via Non-Parametric Instance Discrimination"): each of the ``k``
most similar bank features votes for its class with weight ``exp(sim / temperature)``."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def knn_scores(bank: Tensor, bank_labels: Tensor, query: Tensor, k: int = 20,
               temperature: float = 0.1, num_classes: int = 2, chunk: int = 1024) -> Tensor:
    """Class scores ``(M, C)`` (rows sum to 1) of ``query`` ``(M, D)`` against ``bank``
    ``(N, D)`` with integer ``bank_labels`` ``(N,)``."""
    if bank.shape[0] == 0:
        raise ValueError("kNN needs a non-empty bank")
    k = min(k, bank.shape[0])
    bank = F.normalize(bank.float(), dim=1)
    labels = bank_labels.long()
    out = []
    for start in range(0, query.shape[0], chunk):
        q = F.normalize(query[start:start + chunk].float(), dim=1)
        sim = q @ bank.T  # (m, N)
        top, idx = sim.topk(k, dim=1)  # (m, k)
        weights = ((top - top[:, :1]) / temperature).exp()  # max-shifted: no overflow
        votes = torch.zeros(q.shape[0], num_classes, dtype=weights.dtype)
        votes.scatter_add_(1, labels[idx], weights)
        out.append(votes / votes.sum(dim=1, keepdim=True))
    return torch.cat(out) if out else torch.zeros(0, num_classes)


def knn_accuracy(bank: Tensor, bank_labels: Tensor, query: Tensor, query_labels: Tensor,
                 k: int = 20, temperature: float = 0.1) -> tuple[float, float]:
    """Accuracy and balanced accuracy (mean recall over the classes present in
    ``query_labels``) of the kNN prediction."""
    if bank.shape[0] == 0:
        raise ValueError("kNN needs a non-empty bank")
    num_classes = int(max(bank_labels.max(), query_labels.max())) + 1
    pred = knn_scores(bank, bank_labels, query, k, temperature, num_classes).argmax(dim=1)
    truth = query_labels.long()
    acc = float((pred == truth).float().mean())
    recalls = [float((pred[truth == c] == c).float().mean()) for c in np.unique(truth.numpy())]
    return acc, float(np.mean(recalls))
