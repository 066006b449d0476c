"""Study-level metrics end to end on a MURA-shaped tree: ``medaug probe``'s evaluation reports
image- and study-level numbers, the study level being the mean probability over a study's
images (the MURA paper's protocol), with intervals over patients."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "sources"))
from builders import MuraStudy, make_mura_tree

from medaug.data.config import DataConfig, PrepareConfig
from medaug.data.preprocess import PreprocessConfig
from medaug.evaluate.linear_eval import ProbeConfig, run_probe
from medaug.evaluate.metrics import auroc, binary_metrics


def _studies() -> tuple[MuraStudy, ...]:
    """40 train and 12 valid (= test) patients, one or two studies each, 1-3 images a study,
    alternating labels."""
    out = []
    rng = np.random.default_rng(0)
    for split, first, n in (("train", 1, 40), ("valid", 11185, 12)):
        for p in range(n):
            patient = f"patient{first + p:05d}"
            for s in range(1 + p % 2):
                label = (p + s) % 2
                study = f"study{s + 1}_{'positive' if label else 'negative'}"
                out.append(MuraStudy(split, "XR_ELBOW", patient, study, label,
                                     int(rng.integers(1, 4))))
    return tuple(out)


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[MuraStudy, ...]]:
    studies = _studies()
    root = make_mura_tree(tmp_path_factory.mktemp("mura"), studies)
    data = PrepareConfig(DataConfig(f"mura:{root}"), PreprocessConfig(size=16, clahe=False))
    out = tmp_path_factory.mktemp("eval")
    run_probe(data, ["random:resnet18-small@0"], ProbeConfig(probes=("logistic",),
                                                              bootstrap=200), out, say=None)
    return out, studies


def test_both_levels_are_reported_with_the_right_counts(
        evaluation: tuple[Path, tuple[MuraStudy, ...]]) -> None:
    out, studies = evaluation
    metrics = pd.read_csv(out / "metrics.csv")
    test = [s for s in studies if s.split == "valid"]
    assert set(metrics["level"]) == {"image", "study"}
    image = metrics[metrics["level"] == "image"]
    study = metrics[metrics["level"] == "study"]
    assert set(image["n"]) == {sum(s.n_images for s in test)}
    assert set(study["n"]) == {len(test)}
    assert set(study["n_patients"]) == {len({s.patient for s in test})}


def test_study_level_numbers_are_those_of_mean_probabilities(
        evaluation: tuple[Path, tuple[MuraStudy, ...]]) -> None:
    out, _ = evaluation
    preds = pd.read_csv(out / "predictions.csv", dtype={"study_id": str, "patient_id": str})
    metrics = pd.read_csv(out / "metrics.csv")
    test = preds[preds["split"] == "test"]
    per_study = test.groupby("study_id").agg(label=("label", "max"), prob=("prob", "mean"))
    study = metrics[metrics["level"] == "study"].set_index("metric")
    assert study.loc["auroc", "value"] == pytest.approx(
        auroc(per_study["label"].to_numpy(), per_study["prob"].to_numpy()))
    expected = binary_metrics(per_study["label"].to_numpy(), per_study["prob"].to_numpy(),
                              study.loc["accuracy", "threshold"])
    assert study.loc["balanced_accuracy", "value"] == pytest.approx(
        expected["balanced_accuracy"])
    # the study threshold was chosen on val studies, not on test ones
    val = preds[preds["split"] == "val"].groupby("study_id").agg(label=("label", "max"),
                                                                 prob=("prob", "mean"))
    from medaug.evaluate.metrics import youden_threshold

    assert study.loc["auroc", "threshold"] == pytest.approx(
        youden_threshold(val["label"].to_numpy(), val["prob"].to_numpy()))
