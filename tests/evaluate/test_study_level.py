"""Study-level aggregation of image predictions on a MURA-shaped table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medaug.evaluate.study_level import has_multi_image_studies, study_level

#: (patient, study name, label, images) in the order the studies first appear.
_STUDIES = [
    ("patient00001", "study1_positive", 1, 3),
    ("patient00001", "study2_negative", 0, 1),
    ("patient00002", "study1_negative", 0, 4),
    ("patient00003", "study1_positive", 1, 2),
    ("patient00003", "study2_positive", 1, 1),
    ("patient00004", "study1_negative", 0, 2),
]


def _mura_frame(seed: int = 0, shuffle: bool = True) -> pd.DataFrame:
    """One row per image: ``study_id`` like ``patient00001/study1_positive``, the study's label
    on each of its images, a random probability, and an image path."""
    rng = np.random.default_rng(seed)
    rows = []
    for patient, study, label, n in _STUDIES:
        for k in range(n):
            rows.append({"path": f"XR_WRIST/{patient}/{study}/image{k + 1}.png",
                         "patient_id": patient, "study_id": f"{patient}/{study}",
                         "label": label, "prob": float(rng.uniform())})
    frame = pd.DataFrame(rows)
    if shuffle:  # interleave images of different studies, keeping the first image first
        first = frame.drop_duplicates("study_id").index
        rest = frame.index.difference(first).to_numpy()
        frame = frame.loc[list(first) + list(rng.permutation(rest))].reset_index(drop=True)
    return frame


def test_one_row_per_study_with_mean_prob() -> None:
    frame = _mura_frame()
    out = study_level(frame)
    assert len(out) == len(_STUDIES)
    assert out["study_id"].tolist() == [f"{p}/{s}" for p, s, _, _ in _STUDIES]
    for patient, study, label, n in _STUDIES:
        sid = f"{patient}/{study}"
        row = out.loc[out["study_id"] == sid].iloc[0]
        images = frame.loc[frame["study_id"] == sid]
        assert row["prob"] == pytest.approx(float(np.mean(images["prob"].to_numpy())))
        assert row["label"] == label
        assert row["images"] == n
        assert row["patient_id"] == patient
    assert out["images"].sum() == len(frame)


def test_study_label_is_max_over_images() -> None:
    """A study with one abnormal image is abnormal."""
    frame = pd.DataFrame({"study_id": ["s1", "s1", "s2"], "patient_id": ["p1", "p1", "p2"],
                          "label": [0, 1, 0], "prob": [0.2, 0.4, 0.9]})
    out = study_level(frame)
    assert out["label"].tolist() == [1, 0]
    assert out["prob"].tolist() == pytest.approx([0.3, 0.9])


def test_multi_image_detection() -> None:
    frame = _mura_frame()
    assert has_multi_image_studies(frame) is True
    single = frame.drop_duplicates("study_id")
    assert has_multi_image_studies(single) is False
    out = study_level(single)
    assert (out["images"] == 1).all()
    assert out["prob"].tolist() == pytest.approx(single["prob"].tolist())


def test_study_spanning_two_patients_raises() -> None:
    frame = _mura_frame(shuffle=False)
    frame.loc[frame.index[1], "patient_id"] = "patient00099"  # 2nd image of the first study
    with pytest.raises(ValueError, match="patient00001/study1_positive"):
        study_level(frame)


@pytest.mark.parametrize("column", ["study_id", "patient_id", "label", "prob"])
def test_missing_column_raises(column: str) -> None:
    frame = _mura_frame().drop(columns=column)
    with pytest.raises(ValueError, match=column):
        study_level(frame)
