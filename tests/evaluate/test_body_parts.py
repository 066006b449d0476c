"""The per-body-part table of an evaluation."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medaug.evaluate.body_parts import body_part_table


def _preds(n: int = 40) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 2
    parts = np.array(["elbow"] * (n // 2) + ["hand"] * (n // 2))
    # perfect on elbows, reversed on hands
    prob = np.where(parts == "elbow", labels * 0.8 + 0.1, 0.9 - labels * 0.8)
    prob = prob + rng.normal(0, 0.01, n)
    frame = pd.DataFrame({"model": "m", "probe": "logistic", "fraction": 1.0, "seed": 0,
                          "split": "test", "row": np.arange(n),
                          "patient_id": [f"p{i // 2}" for i in range(n)],
                          "study_id": [f"s{i}" for i in range(n)], "label": labels,
                          "prob": prob})
    return frame, parts


def test_each_part_gets_its_own_auroc_and_interval() -> None:
    preds, parts = _preds()
    table = body_part_table(preds, parts, n_boot=200).set_index("body_part")
    assert table.loc["elbow", "auroc"] == 1.0 and table.loc["hand", "auroc"] == 0.0
    assert table.loc["elbow", "n"] == 20 and table.loc["hand", "n_patients"] == 10
    assert (table["ci_low"] <= table["auroc"]).all() and (table["auroc"] <= table["ci_high"]).all()


def test_one_body_part_gives_no_table() -> None:
    preds, _ = _preds()
    assert body_part_table(preds, np.array(["knee"] * 40)) is None
    assert body_part_table(preds, np.array([""] * 40)) is None
