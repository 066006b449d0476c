"""Splits: whole patients per split, stratified, seeded; official splits kept; leakage caught."""

from __future__ import annotations

import pandas as pd
import pytest

from medaug.data.manifest import Manifest
from medaug.data.splits import assign_splits, check_leakage, group_split
from medaug.errors import DataError, LeakageError


def _unsplit(n_normal: int = 60, n_abnormal: int = 40, per_patient: int = 3) -> Manifest:
    """Patients with ``per_patient`` images each; abnormal patients have one abnormal image
    (a patient's label is the max over their images)."""
    rows = []
    for k in range(n_normal + n_abnormal):
        abnormal = k >= n_normal
        for j in range(per_patient):
            rows.append({"path": f"/d/p{k:03d}_{j}.png", "patient_id": f"p{k:03d}",
                         "label": int(abnormal and j == 0)})
    return Manifest(pd.DataFrame(rows), name="toy")


def _patient_split(m: Manifest) -> pd.Series:
    per_patient = m.frame.groupby("patient_id")["split"].nunique()
    assert (per_patient == 1).all(), "a patient is in two splits"
    return m.frame.groupby("patient_id")["split"].first()


def _patient_label(m: Manifest) -> pd.Series:
    return m.frame.groupby("patient_id")["label"].max()


def test_unsplit_dataset_gets_train_val_test_with_whole_patients() -> None:
    m = assign_splits(_unsplit(), val=0.2, test=0.2, seed=0)
    assert set(m.frame["split"]) == {"train", "val", "test"}
    splits = _patient_split(m)
    counts = splits.value_counts()
    # 60 normal and 40 abnormal patients, 20 % each: 12 + 8 in val and in test.
    assert counts["val"] == 20
    assert counts["test"] == 20
    assert counts["train"] == 60
    assert len(m) == 300  # nothing dropped


def test_stratification_keeps_both_classes_close_to_global_ratio() -> None:
    m = assign_splits(_unsplit(), val=0.2, test=0.2, seed=3)
    labels = _patient_label(m)
    splits = _patient_split(m)
    for name in ("train", "val", "test"):
        in_split = labels[splits == name]
        assert set(in_split) == {0, 1}
        assert in_split.mean() == pytest.approx(0.4, abs=0.02)


def test_same_seed_same_split_other_seed_other_split() -> None:
    base = _unsplit()
    a = assign_splits(base, seed=7).frame["split"]
    b = assign_splits(base, seed=7).frame["split"]
    c = assign_splits(base, seed=8).frame["split"]
    assert a.equals(b)
    assert not a.equals(c)


def test_input_manifest_is_not_modified() -> None:
    base = _unsplit()
    assign_splits(base)
    assert set(base.frame["split"]) == {""}


def test_official_train_test_kept_and_val_carved_from_train_only() -> None:
    m = _unsplit()
    frame = m.frame.copy()
    test_patients = {f"p{k:03d}" for k in (*range(0, 15), *range(60, 70))}
    frame["split"] = ["test" if p in test_patients else "train" for p in frame["patient_id"]]
    out = assign_splits(m.with_frame(frame), val=0.25, seed=0)
    splits = _patient_split(out)
    assert set(splits[splits == "test"].index) == test_patients  # test untouched
    val = set(splits[splits == "val"].index)
    assert val.isdisjoint(test_patients)
    # 45 normal and 30 abnormal train patients, 25 % of each carved into val.
    labels = _patient_label(out)
    assert (labels[list(val)] == 0).sum() == round(0.25 * 45)
    assert (labels[list(val)] == 1).sum() == round(0.25 * 30)


def test_official_val_kept_untouched() -> None:
    m = _unsplit(n_normal=4, n_abnormal=4, per_patient=1)
    splits = ["train", "val", "test", "train"] * 2
    out = assign_splits(m.with_frame(m.frame.assign(split=splits)), val=0.5, seed=0)
    assert out.frame["split"].tolist() == splits


def test_val_zero_carves_nothing() -> None:
    m = _unsplit(n_normal=4, n_abnormal=4, per_patient=1)
    splits = ["train", "test"] * 4
    out = assign_splits(m.with_frame(m.frame.assign(split=splits)), val=0.0)
    assert out.frame["split"].tolist() == splits


def test_partial_split_assignment_raises_naming_first_unassigned() -> None:
    m = _unsplit(n_normal=2, n_abnormal=2, per_patient=1)
    frame = m.frame.assign(split=["train", "", "test", ""])
    with pytest.raises(DataError, match=r"2 image\(s\) have no split.*first: /d/p001_0.png"):
        assign_splits(m.with_frame(frame))


@pytest.mark.parametrize(("val", "test"), [(-0.1, 0.1), (0.1, -0.1), (1.0, 0.0), (0.0, 1.0),
                                           (0.5, 0.5), (0.6, 0.6)])
def test_bad_fractions_raise(val: float, test: float) -> None:
    with pytest.raises(DataError, match="split fractions"):
        assign_splits(_unsplit(2, 2, 1), val=val, test=test)


def test_group_split_assigns_every_patient_once() -> None:
    frame = _unsplit(10, 10, 2).frame
    groups = group_split(frame, {"test": 0.3}, seed=0, rest="train")
    assert set(groups) == set(frame["patient_id"])
    assert sum(v == "test" for v in groups.values()) == 6  # 3 + 3


def _split_manifest(rows: list[tuple[str, str, str]]) -> Manifest:
    return Manifest(pd.DataFrame(
        [{"path": f"/d/{i}.png", "label": i % 2, "patient_id": pid, "study_id": sid,
          "split": split} for i, (pid, sid, split) in enumerate(rows)]), name="leaky")


def test_check_leakage_passes_on_clean_manifest() -> None:
    check_leakage(_split_manifest([("a", "a1", "train"), ("b", "b1", "test")]))


def test_check_leakage_catches_patient_in_train_and_test() -> None:
    m = _split_manifest([("a", "a1", "train"), ("p42", "s1", "train"), ("p42", "s2", "test"),
                         ("b", "b1", "val")])
    with pytest.raises(LeakageError, match=r"1 patient\(s\).*p42 \(train\+test\)"):
        check_leakage(m)


def test_check_leakage_catches_study_in_two_splits() -> None:
    # Two patients share a study ID: the patients are clean, the study leaks.
    m = _split_manifest([("a", "st7", "train"), ("b", "st7", "val"), ("c", "c1", "test")])
    with pytest.raises(LeakageError, match=r"1 study\(s\).*st7 \(train\+val\)"):
        check_leakage(m)


def test_leakage_error_is_a_data_error() -> None:
    assert issubclass(LeakageError, DataError)
