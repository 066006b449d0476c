"""Imbalance on purpose: keep fewer abnormal patients in the train split, so that a study can
test the claim that a method suffers from class imbalance (val and test stay as they are)."""

from __future__ import annotations

import numpy as np

from medaug.data.manifest import Manifest
from medaug.errors import DataError


def subsample_positives(manifest: Manifest, ratio: float | None, seed: int = 0) -> Manifest:
    """``manifest`` with abnormal train images dropped, whole patients at a time (drawn with
    ``seed``), until train holds about ``ratio`` normal images per abnormal one; ``None``, or
    a ratio the train split already reaches, changes nothing.

    Raises:
        DataError: a ratio below 1 that is not ``None``, or a train split without both classes.
    """
    if ratio is None:
        return manifest
    if not ratio >= 1:
        raise DataError(f"{manifest.name}: imbalance ratio must be >= 1 (normal per abnormal "
                        f"train image), got {ratio}")
    frame = manifest.frame
    train = frame["split"] == "train"
    pos = frame[train & (frame["label"] == 1)]
    n_neg = int((train & (frame["label"] == 0)).sum())
    if n_neg == 0 or pos.empty:
        raise DataError(f"{manifest.name}: imbalance needs both classes in the train split")
    target = max(1, round(n_neg / ratio))
    if len(pos) <= target:
        return manifest
    patients = pos["patient_id"].unique()
    order = np.random.default_rng(seed).permutation(len(patients))
    counts = pos.groupby("patient_id").size()
    keep, total = [], 0
    for i in order:
        if total >= target:
            break
        keep.append(patients[i])
        total += int(counts[patients[i]])
    drop = train & (frame["label"] == 1) & ~frame["patient_id"].isin(keep)
    return Manifest(frame[~drop].reset_index(drop=True), manifest.name)
