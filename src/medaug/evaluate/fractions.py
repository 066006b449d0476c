"""Label fractions: a seeded subset of the training labels that keeps patients whole and keeps
both classes, for label-efficiency curves (1%, 10%, 100% of the labels)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medaug.errors import DataError


def label_fraction(frame: pd.DataFrame, fraction: float, seed: int) -> np.ndarray:
    """Positions (into ``frame``'s rows) of the images of a patient-grouped, label-stratified
    ``fraction`` of ``frame``'s patients.

    Patients are stratified by their label (the maximum over their images); within each
    stratum they are shuffled with ``seed`` and ``max(1, round(fraction * n))`` are kept, so
    even 1% of a small set keeps at least one patient of each class. ``fraction = 1`` keeps
    every row.

    Raises:
        DataError: ``fraction`` outside (0, 1], or ``frame`` without both classes.
    """
    if not 0 < fraction <= 1:
        raise DataError(f"a label fraction must lie in (0, 1], got {fraction}")
    labels = frame["label"].to_numpy().astype(int)
    if len(np.unique(labels)) < 2:
        raise DataError("label fractions need both classes among the training labels")
    if fraction == 1:
        return np.arange(len(frame))
    patient = frame["patient_id"].astype(str).to_numpy()
    per_patient = pd.Series(labels).groupby(patient).max()  # sorted patient IDs
    rng = np.random.default_rng(seed)
    keep: list[str] = []
    for label in (0, 1):
        ids = per_patient.index[per_patient.to_numpy() == label].to_numpy()
        n = max(1, round(fraction * len(ids)))
        keep.extend(ids[rng.permutation(len(ids))[:n]])
    return np.flatnonzero(np.isin(patient, np.asarray(keep)))


def parse_fractions(text: str) -> tuple[float, ...]:
    """``"0.01,0.1,1"`` -> ``(0.01, 0.1, 1.0)`` (sorted, unique)."""
    try:
        values = sorted({float(v) for v in text.split(",") if v.strip()})
    except ValueError as exc:
        raise DataError(f"label fractions must be numbers like 0.01,0.1,1.0, got {text!r}"
                        ) from exc
    if not values or any(not 0 < v <= 1 for v in values):
        raise DataError(f"label fractions must lie in (0, 1], got {text!r}")
    return tuple(values)
