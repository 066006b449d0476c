"""Patient-grouped, label-stratified, seeded splits, and the leakage check.

Official splits are kept. A dataset with train and test but no val (MURA, the chest set) gets
a val split carved from train; a dataset with no splits gets train/val/test. Whole patients
move together, and each split keeps the class balance (stratified on the patient's label, the
maximum over their images). :func:`check_leakage` runs on every Manifest that leaves
:func:`assign_splits`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from medaug.data.manifest import SPLITS, Manifest
from medaug.errors import DataError, LeakageError


def assign_splits(manifest: Manifest, val: float = 0.15, test: float = 0.15, seed: int = 0
                  ) -> Manifest:
    """Fill in missing splits (see the module docstring) and check for leakage.

    Args:
        val: fraction of patients for val (of all patients, or of train when carving).
        test: fraction of patients for test (used only when nothing is assigned).
        seed: the shuffle's seed.

    Raises:
        DataError: some rows have a split and others not, or fractions out of range.
        LeakageError: a patient or study falls in two splits.
    """
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise DataError(f"split fractions must satisfy 0 <= val, test and val + test < 1, "
                        f"got val={val}, test={test}")
    frame = manifest.frame.copy()
    assigned = frame["split"] != ""
    if assigned.any() and not assigned.all():
        first = frame.loc[~assigned, "path"].iloc[0]
        raise DataError(f"dataset {manifest.name!r}: {int((~assigned).sum())} image(s) have no "
                        f"split while others do, first: {first}")
    if not assigned.any():
        groups = group_split(frame, {"test": test, "val": val}, seed, rest="train")
        frame["split"] = frame["patient_id"].map(groups)
    elif "val" not in set(frame["split"]) and val > 0:
        train = frame["split"] == "train"
        groups = group_split(frame[train], {"val": val}, seed, rest="train")
        frame.loc[train, "split"] = frame.loc[train, "patient_id"].map(groups)
    out = manifest.with_frame(frame)
    check_leakage(out)
    return out


def group_split(frame: pd.DataFrame, fractions: dict[str, float], seed: int, rest: str
                ) -> dict[str, str]:
    """Assign whole patients to splits: ``patient_id -> split``.

    Patients are stratified by label (max over their images); within each label, shuffled with
    ``seed``, then the first ``round(fraction * n)`` go to each named split in order and the
    rest to ``rest``.
    """
    patient_label = frame.groupby("patient_id")["label"].max().sort_index()
    rng = np.random.default_rng(seed)
    out: dict[str, str] = {}
    for label in sorted(patient_label.unique()):
        ids = patient_label.index[patient_label == label].to_numpy()
        ids = ids[rng.permutation(len(ids))]
        start = 0
        for split, frac in fractions.items():
            n = round(frac * len(ids))
            for pid in ids[start : start + n]:
                out[str(pid)] = split
            start += n
        for pid in ids[start:]:
            out[str(pid)] = rest
    return out


def check_leakage(manifest: Manifest) -> None:
    """Raise :class:`LeakageError` when a patient or a study is in more than one split."""
    frame = manifest.frame[manifest.frame["split"] != ""]
    for key in ("patient_id", "study_id"):
        n_splits = frame.groupby(key)["split"].nunique()
        leaked = n_splits[n_splits > 1]
        if len(leaked):
            examples = []
            for gid in leaked.index[:5]:
                splits = sorted(set(frame.loc[frame[key] == gid, "split"]),
                                key=SPLITS.index)
                examples.append(f"{gid} ({'+'.join(splits)})")
            what = "patient" if key == "patient_id" else "study"
            raise LeakageError(
                f"dataset {manifest.name!r}: {len(leaked)} {what}(s) appear in more than one "
                f"split, e.g. {', '.join(examples)}"
            )
