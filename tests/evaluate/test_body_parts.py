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


def test_medaug_probe_writes_and_prints_the_per_part_table(tmp_path) -> None:
    import sys
    from pathlib import Path

    from typer.testing import CliRunner

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "sources"))
    from builders import MuraStudy, make_mura_tree

    from medaug.cli import app

    studies = []
    for split, first, n in (("train", 1, 24), ("valid", 11185, 12)):
        for p in range(n):
            part = ("XR_ELBOW", "XR_HAND")[p % 2]
            studies.append(MuraStudy(split, part, f"patient{first + p:05d}",
                                     f"study1_{'positive' if p % 4 < 2 else 'negative'}",
                                     int(p % 4 < 2), 2))
    root = make_mura_tree(tmp_path / "mura", tuple(studies))
    out = tmp_path / "eval"
    result = CliRunner().invoke(app, ["probe", "--data", f"mura:{root}", "--size", "16",
                                      "--no-clahe", "--encoder", "random:resnet18-small@0",
                                      "--probes", "logistic", "--bootstrap", "100",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "body_parts.csv")
    assert set(table["body_part"]) == {"XR_ELBOW", "XR_HAND"}
    assert set(table["n"]) == {12}  # 6 valid (= test) patients x 2 images per part
    assert "test AUROC per body part" in result.output and "XR_HAND" in result.output
