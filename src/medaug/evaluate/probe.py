"""Probes on frozen features: logistic regression (the linear evaluation protocol of SimCLR,
Chen et al. 2020) and a weighted kNN beside it.

The logistic probe standardises the features (mean and scale of the probe's training rows),
fits scikit-learn's ``LogisticRegression`` for every regularisation strength of a grid, and
keeps the one with the best validation AUROC. Its weights fold into one ``nn.Linear`` on the
raw features (:meth:`LogisticProbe.as_linear`), which Grad-CAM puts on top of the encoder.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from torch import nn

from medaug.evaluate.knn import knn_scores
from medaug.evaluate.metrics import auroc

#: Inverse regularisation strengths tried (scikit-learn's ``C``), weakest last.
DEFAULT_CS: tuple[float, ...] = tuple(float(c) for c in np.logspace(-4, 2, 13))


@dataclass
class LogisticProbe:
    """A fitted logistic probe: ``p = sigmoid(((x - mean) / scale) @ coef + intercept)``."""

    mean: np.ndarray  # (D,)
    scale: np.ndarray  # (D,)
    coef: np.ndarray  # (D,)
    intercept: float
    C: float
    val_auroc: float
    grid: dict[float, float] = field(default_factory=dict)  # C -> validation AUROC

    def decision(self, features: np.ndarray) -> np.ndarray:
        """The abnormal logit ``(N,)`` of features ``(N, D)``."""
        z = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        return z @ self.coef + self.intercept

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Probability of abnormal ``(N,)`` of features ``(N, D)``."""
        return 1.0 / (1.0 + np.exp(-self.decision(features)))

    def to_arrays(self) -> dict[str, np.ndarray | float]:
        """The probe as named arrays and numbers (what :func:`medaug.store.save_probe`
        writes): ``mean``, ``scale``, ``coef`` ``(D,)``, ``intercept``, ``C``, ``val_auroc``."""
        return {"mean": self.mean, "scale": self.scale, "coef": self.coef,
                "intercept": float(self.intercept), "C": float(self.C),
                "val_auroc": float(self.val_auroc)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> LogisticProbe:
        """The probe of :meth:`to_arrays`'s arrays (e.g. :func:`medaug.store.load_probe`'s).

        Raises:
            ValueError: a key missing, or mean, scale and coef not of one length.
        """
        missing = [k for k in ("mean", "scale", "coef", "intercept", "C") if k not in arrays]
        if missing:
            raise ValueError(f"a logistic probe needs {', '.join(missing)}")
        mean, scale, coef = (np.asarray(arrays[k], dtype=np.float64).reshape(-1)
                             for k in ("mean", "scale", "coef"))
        if not len(mean) == len(scale) == len(coef):
            raise ValueError(f"mean, scale and coef have lengths {len(mean)}, {len(scale)} and "
                             f"{len(coef)}")
        return cls(mean=mean, scale=scale, coef=coef, intercept=float(arrays["intercept"]),
                   C=float(arrays["C"]), val_auroc=float(arrays.get("val_auroc", np.nan)))

    def as_linear(self) -> nn.Linear:
        """An ``nn.Linear(D, 1)`` on the *raw* features whose output is :meth:`decision`
        (standardisation folded in: ``w = coef / scale``, ``b = intercept - sum(w * mean)``)."""
        w = self.coef / self.scale
        b = self.intercept - float(np.sum(w * self.mean))
        layer = nn.Linear(len(w), 1)
        with torch.no_grad():
            layer.weight.copy_(torch.as_tensor(w, dtype=torch.float32)[None])
            layer.bias.fill_(b)
        return layer


def fit_logistic_probe(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
                       y_val: np.ndarray, cs: tuple[float, ...] = DEFAULT_CS,
                       class_weight: str | None = None, max_iter: int = 2000, seed: int = 0
                       ) -> LogisticProbe:
    """Fit a logistic probe on ``x_train`` ``(N, D)``, ``y_train`` ``(N,)`` for every ``C`` of
    ``cs`` and keep the best by validation AUROC (ties: the strongest regularisation).

    Args:
        class_weight: ``None`` or ``"balanced"`` (scikit-learn's inverse class frequencies).

    Raises:
        ValueError: training or validation labels without both classes.
    """
    if not cs:
        raise ValueError("the probe needs at least one regularisation strength C")
    y_train = np.asarray(y_train).astype(int)
    y_val = np.asarray(y_val).astype(int)
    if len(np.unique(y_train)) < 2:
        raise ValueError("the probe's training labels need both classes")
    if len(np.unique(y_val)) < 2:
        raise ValueError("the validation split needs both classes to choose the probe")
    scaler = StandardScaler().fit(np.asarray(x_train, dtype=np.float64))
    z_train = scaler.transform(np.asarray(x_train, dtype=np.float64))
    z_val = scaler.transform(np.asarray(x_val, dtype=np.float64))
    best: tuple[float, float, LogisticRegression] | None = None
    grid: dict[float, float] = {}
    for c in sorted(cs):
        model = LogisticRegression(C=c, class_weight=class_weight, max_iter=max_iter,
                                   random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(z_train, y_train)
        score = auroc(y_val, model.decision_function(z_val))
        grid[c] = score
        if best is None or score > best[1] + 1e-12:
            best = (c, score, model)
    c, score, model = best  # type: ignore[misc]  # cs is not empty
    return LogisticProbe(mean=scaler.mean_.copy(), scale=scaler.scale_.copy(),
                         coef=model.coef_[0].astype(np.float64).copy(),
                         intercept=float(model.intercept_[0]), C=c, val_auroc=score, grid=grid)


def knn_probe(x_train: np.ndarray, y_train: np.ndarray, x_query: np.ndarray, k: int = 20,
              temperature: float = 0.1) -> np.ndarray:
    """Probability of abnormal ``(M,)`` of ``x_query`` ``(M, D)``: the weighted vote of its
    ``k`` most cosine-similar training features ``(N, D)``."""
    scores = knn_scores(torch.as_tensor(np.asarray(x_train), dtype=torch.float32),
                        torch.as_tensor(np.asarray(y_train).astype(np.int64)),
                        torch.as_tensor(np.asarray(x_query), dtype=torch.float32), k=k,
                        temperature=temperature, num_classes=2)
    return scores[:, 1].numpy().astype(np.float64)
