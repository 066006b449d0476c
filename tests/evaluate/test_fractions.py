"""Label fractions: patient-grouped, class-stratified, seeded subsets of the training rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medaug.errors import DataError
from medaug.evaluate.fractions import label_fraction, parse_fractions


def _frame(n_patients: int = 230, seed: int = 0) -> pd.DataFrame:
    """Patients with 1-3 images, about one in six abnormal, rows shuffled, and an index that
    is not ``0..N-1`` (the function returns positions, not index labels)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 4, size=n_patients)
    patient_label = (rng.uniform(size=n_patients) < 1 / 6).astype(int)
    patient_label[:2] = [0, 1]
    patients = np.repeat([f"patient{i:05d}" for i in range(n_patients)], sizes)
    labels = np.repeat(patient_label, sizes)
    order = rng.permutation(labels.size)
    return pd.DataFrame({"patient_id": patients[order], "label": labels[order]},
                        index=1000 + rng.permutation(labels.size))


def _patient_labels(frame: pd.DataFrame) -> pd.Series:
    return frame.groupby("patient_id")["label"].max()


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.5])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_fraction_keeps_patients_whole_and_both_classes(fraction: float, seed: int) -> None:
    frame = _frame()
    pos = label_fraction(frame, fraction, seed)
    assert pos.dtype.kind == "i"
    assert len(np.unique(pos)) == len(pos)
    assert pos.min() >= 0 and pos.max() < len(frame)
    chosen = frame.iloc[pos]
    chosen_patients = set(chosen["patient_id"])
    # every selected patient has all its rows selected
    assert len(chosen) == int(frame["patient_id"].isin(chosen_patients).sum())
    assert set(chosen["label"]) == {0, 1}
    per_patient = _patient_labels(frame)
    chosen_labels = per_patient.loc[sorted(chosen_patients)]
    for label in (0, 1):
        n = int((per_patient == label).sum())
        assert int((chosen_labels == label).sum()) == max(1, round(fraction * n)), label


def test_small_fraction_keeps_one_patient_per_class() -> None:
    """1% of 230 patients (35 abnormal) still keeps one abnormal patient."""
    frame = _frame()
    chosen = frame.iloc[label_fraction(frame, 0.01, 0)]
    per_patient = _patient_labels(chosen)
    assert int((per_patient == 1).sum()) == 1


def test_patient_label_is_max_over_images() -> None:
    """A patient with one abnormal image counts as abnormal (and is kept whole)."""
    frame = pd.DataFrame({"patient_id": ["a", "a", "b", "c", "d"],
                          "label": [0, 1, 0, 0, 0]})
    for seed in range(5):
        chosen = frame.iloc[label_fraction(frame, 0.3, seed)]
        assert chosen["patient_id"].tolist().count("a") == 2
        assert chosen["patient_id"].nunique() == 2  # a, and round(0.3 * 3) = 1 normal


def test_fraction_one_returns_all_rows() -> None:
    frame = _frame()
    assert np.array_equal(label_fraction(frame, 1.0, 3), np.arange(len(frame)))
    assert np.array_equal(label_fraction(frame, 1, 0), np.arange(len(frame)))


def test_seeded() -> None:
    frame = _frame()
    a = label_fraction(frame, 0.1, 5)
    b = label_fraction(frame, 0.1, 5)
    c = label_fraction(frame, 0.1, 6)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("fraction", [0.0, 1.5, -0.1])
def test_bad_fraction_raises(fraction: float) -> None:
    with pytest.raises(DataError):
        label_fraction(_frame(), fraction, 0)


def test_single_class_raises() -> None:
    frame = pd.DataFrame({"patient_id": ["a", "a", "b"], "label": [0, 0, 0]})
    with pytest.raises(DataError, match="both classes"):
        label_fraction(frame, 0.5, 0)


def test_parse_fractions() -> None:
    assert parse_fractions("1,0.01,0.1") == (0.01, 0.1, 1.0)
    assert parse_fractions(" 0.5 , 0.5,") == (0.5,)


@pytest.mark.parametrize("text", ["", "abc", "0.1,x", "0,0.5", "0.1,2", "-0.1", ","])
def test_parse_fractions_rejects_bad_text(text: str) -> None:
    with pytest.raises(DataError):
        parse_fractions(text)
