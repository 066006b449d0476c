"""Summary: counts of images, patients and studies per split and class; imbalance ratios."""

from __future__ import annotations

import math

import pandas as pd
from rich.console import Console

from medaug.data.manifest import Manifest
from medaug.data.summary import imbalance, summary_frame, summary_table


def _manifest() -> Manifest:
    rows = [
        # path, label, patient, study, split
        ("a1", 0, "A", "A-s1", "train"), ("a2", 0, "A", "A-s1", "train"),
        ("a3", 0, "A", "A-s2", "train"), ("b1", 1, "B", "B-s1", "train"),
        ("c1", 0, "C", "C-s1", "train"), ("d1", 1, "D", "D-s1", "test"),
        ("d2", 1, "D", "D-s1", "test"), ("e1", 0, "E", "E-s1", "test"),
        ("f1", 1, "F", "F-s1", "val"),
    ]
    return Manifest(pd.DataFrame(rows, columns=["path", "label", "patient_id", "study_id",
                                                "split"]).assign(body_part="knee"), "toy")


def test_summary_frame_counts() -> None:
    out = summary_frame(_manifest())
    assert list(out.columns) == ["split", "body_part", "cls", "images", "patients", "studies"]
    rows = [tuple(r) for r in out.itertuples(index=False)]
    assert rows == [  # train, val, test order; classes alphabetical
        ("train", "knee", "abnormal", 1, 1, 1),
        ("train", "knee", "normal", 4, 2, 3),
        ("val", "knee", "abnormal", 1, 1, 1),
        ("test", "knee", "abnormal", 2, 1, 1),
        ("test", "knee", "normal", 1, 1, 1),
    ]
    assert out["images"].sum() == 9


def test_summary_frame_unassigned_and_missing_body_part() -> None:
    m = Manifest(pd.DataFrame({"path": ["x", "y", "z"], "label": [0, 1, 1],
                               "patient_id": ["p", "q", "q"]}))
    out = summary_frame(m)
    assert [tuple(r) for r in out.itertuples(index=False)] == [
        ("unassigned", "-", "abnormal", 2, 1, 1), ("unassigned", "-", "normal", 1, 1, 1)]


def test_imbalance_ratios() -> None:
    ratios = imbalance(_manifest())
    assert ratios["train"] == 4.0  # 4 normal / 1 abnormal
    assert ratios["test"] == 2.0
    assert math.isinf(ratios["val"])  # no normal image in val
    unsplit = Manifest(pd.DataFrame({"path": list("abcd"), "label": [1, 1, 1, 0],
                                     "patient_id": list("abcd")}))
    assert imbalance(unsplit) == {"unassigned": 3.0}


def test_summary_table_renders_totals_and_ratios() -> None:
    table = summary_table(_manifest())
    assert table.title == "toy: 9 images, 6 patients, 7 studies"
    assert table.caption == "imbalance (majority/minority images): train 4.00, val inf, test 2.00"
    assert table.row_count == 5
    console = Console(record=True, width=120)
    console.print(table)
    text = console.export_text()
    assert "│ train │ knee      │ normal   │      4 │        2 │       3 │" in text
