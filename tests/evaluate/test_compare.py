"""``medaug compare`` on two evaluation folders: which model, probe, fraction and seed it picks,
the errors that name the folder and list what is there, and the evaluation record."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from medaug.errors import DataError
from medaug.evaluate.compare import compare
from medaug.evaluate.metrics import auroc
from medaug.evaluate.record import (
    EVALUATION_FILE,
    PREDICTIONS_FILE,
    read_predictions,
    write_record,
)
from medaug.evaluate.scoring import COMPARISON_COLUMNS, PREDICTION_COLUMNS
from medaug.store import write_table

N_TEST = 40
N_BOOT = 200


def _frame(seed: int, noise: float | None = None, shift: int = 0, row0: int = 0,
           labels: np.ndarray | None = None) -> pd.DataFrame:
    """Predictions of models ``a`` and ``b`` with probes ``knn`` (listed first) and
    ``logistic`` at fractions 1.0 and 0.1, seeds 0 and 1, on val and test rows.

    Without ``noise``, the ``k``-th combination (of 16) ranks ``(k + shift) % 16`` of its 20
    abnormal test images below every normal one, so its test AUROC is exactly
    ``1 - ((k + shift) % 16) / 20`` and a value tells which rows were picked. With ``noise``,
    probabilities are ``label`` plus Gaussian noise of that scale."""
    rng = np.random.default_rng(seed)
    test_labels = np.arange(N_TEST) % 2 if labels is None else labels
    rows = []
    combos = [(m, p, f, s) for m in ("a", "b") for p in ("knn", "logistic")
              for f in (1.0, 0.1) for s in (0, 1)]
    for k, (model, probe, fraction, s) in enumerate(combos):
        for split, n, start in (("val", 20, 1000), ("test", N_TEST, row0)):
            y = np.arange(n) % 2 if split == "val" else test_labels
            if noise is None:
                p = y * 0.5 + 0.25 + rng.uniform(-0.1, 0.1, n)
                if split == "test":
                    flipped = np.flatnonzero(y == 1)[:(k + shift) % len(combos)]
                    p[flipped] = rng.uniform(0.0, 0.1, len(flipped))
            else:
                p = np.clip(y * 0.5 + 0.25 + rng.normal(0, noise, n), 0, 1)
            for i in range(n):
                rows.append({
                    "model": model, "probe": probe, "fraction": fraction, "seed": s,
                    "split": split, "row": start + i, "patient_id": f"{split}{i // 2:04d}",
                    "study_id": f"{split}{i // 2:04d}/{i}", "label": int(y[i]),
                    "prob": float(p[i])})
    return pd.DataFrame(rows, columns=list(PREDICTION_COLUMNS))


def _folder(path: Path, frame: pd.DataFrame) -> Path:
    write_table(path / PREDICTIONS_FILE, frame)
    return path


def _auc(folder: Path, model: str, probe: str, fraction: float, seed: int) -> float:
    preds = read_predictions(folder)
    t = preds[(preds["model"] == model) & (preds["probe"] == probe)
              & (preds["fraction"] == fraction) & (preds["seed"] == seed)
              & (preds["split"] == "test")]
    assert len(t) == N_TEST
    return auroc(t["label"].to_numpy(), t["prob"].to_numpy())


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    f1 = _folder(tmp_path / "f1", _frame(0))
    f2 = _folder(tmp_path / "f2", _frame(1, shift=5))
    # within a folder every combination has its own AUROC: a value tells which rows were picked
    for f in (f1, f2):
        aucs = [_auc(f, m, p, fr, s) for m in "ab" for p in ("knn", "logistic")
                for fr in (1.0, 0.1) for s in (0, 1)]
        assert len(set(aucs)) == len(aucs)
    return f1, f2


def test_default_picks_first_model_logistic_probe_full_fraction_smallest_seed(
        folders: tuple[Path, Path]) -> None:
    f1, f2 = folders
    out = compare(str(f1), str(f2), n_boot=N_BOOT)
    assert list(out.columns) == list(COMPARISON_COLUMNS)
    assert len(out) == 1
    row = out.iloc[0]
    assert (row["model_a"], row["model_b"]) == ("f1:a", "f2:a")
    assert (row["probe"], row["fraction"], row["seed"], row["level"]) == ("logistic", 1.0, 0,
                                                                          "image")
    assert row["value_a"] == pytest.approx(_auc(f1, "a", "logistic", 1.0, 0))
    assert row["value_b"] == pytest.approx(_auc(f2, "a", "logistic", 1.0, 0))
    assert row["difference"] == pytest.approx(row["value_a"] - row["value_b"])
    assert row["n"] == N_TEST and row["n_patients"] == N_TEST // 2


def test_model_probe_fraction_and_seed_can_be_chosen(folders: tuple[Path, Path]) -> None:
    f1, f2 = folders
    row = compare(f"{f1}::b", f"{f2}::a", probe="knn", fraction=0.1, seed=1,
                  n_boot=N_BOOT).iloc[0]
    assert (row["model_a"], row["model_b"], row["probe"]) == ("f1:b", "f2:a", "knn")
    assert (row["fraction"], row["seed"]) == (0.1, 1)
    assert row["value_a"] == pytest.approx(_auc(f1, "b", "knn", 0.1, 1))
    assert row["value_b"] == pytest.approx(_auc(f2, "a", "knn", 0.1, 1))


def test_a_folder_against_itself_differs_by_zero(folders: tuple[Path, Path]) -> None:
    f1, _ = folders
    row = compare(str(f1), str(f1), n_boot=N_BOOT).iloc[0]
    assert row["difference"] == 0.0 and row["ci_low"] == row["ci_high"] == 0.0
    assert row["p_value"] == 1.0


def test_a_clearly_better_model_wins(tmp_path: Path) -> None:
    good = _folder(tmp_path / "good", _frame(0, noise=0.05))
    poor = _folder(tmp_path / "poor", _frame(1, noise=3.0))
    row = compare(str(good), str(poor), n_boot=N_BOOT).iloc[0]
    assert row["value_a"] > 0.95
    assert row["difference"] > 0.2
    assert row["ci_low"] > 0
    assert row["p_value"] < 0.05
    reverse = compare(str(poor), str(good), n_boot=N_BOOT).iloc[0]
    assert reverse["difference"] == pytest.approx(-row["difference"])
    assert reverse["ci_high"] < 0


def test_unknown_model_names_folder_and_lists_models(folders: tuple[Path, Path]) -> None:
    f1, f2 = folders
    with pytest.raises(DataError) as info:
        compare(f"{f1}::zz", str(f2), n_boot=N_BOOT)
    message = str(info.value)
    assert str(f1) in message and "'zz'" in message and "a, b" in message


def test_unknown_probe_names_folder_and_lists_probes(folders: tuple[Path, Path]) -> None:
    f1, f2 = folders
    with pytest.raises(DataError) as info:
        compare(str(f1), str(f2), probe="svm", n_boot=N_BOOT)
    message = str(info.value)
    assert str(f1) in message and "'svm'" in message and "knn, logistic" in message


def test_unknown_fraction_names_folder_and_lists_fractions(folders: tuple[Path, Path]) -> None:
    f1, f2 = folders
    with pytest.raises(DataError) as info:
        compare(str(f1), str(f2), fraction=0.5, n_boot=N_BOOT)
    message = str(info.value)
    assert str(f1) in message and "0.5" in message and "it has 0.1, 1" in message


def test_unknown_seed_names_folder_and_seed(folders: tuple[Path, Path]) -> None:
    f1, f2 = folders
    with pytest.raises(DataError) as info:
        compare(str(f1), str(f2), seed=7, n_boot=N_BOOT)
    message = str(info.value)
    assert str(f1) in message and "seed 7" in message and "fraction 1" in message


def test_unknown_seed_lists_the_seeds_there_are(folders: tuple[Path, Path]) -> None:
    f1, f2 = folders
    with pytest.raises(DataError) as info:
        compare(str(f1), str(f2), seed=7, n_boot=N_BOOT)
    assert "0, 1" in str(info.value)


def test_a_folder_without_predictions(folders: tuple[Path, Path], tmp_path: Path) -> None:
    _, f2 = folders
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError) as info:
        compare(str(empty), str(f2), n_boot=N_BOOT)
    assert str(empty) in str(info.value) and PREDICTIONS_FILE in str(info.value)
    with pytest.raises(DataError, match="nowhere"):
        compare(str(f2), str(tmp_path / "nowhere"), n_boot=N_BOOT)


def test_different_test_images_cannot_be_compared(folders: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    f1, _ = folders
    shifted = _folder(tmp_path / "shifted", _frame(1, shift=5, row0=500))
    with pytest.raises(DataError) as info:
        compare(str(f1), str(shifted), n_boot=N_BOOT)
    assert "same test images" in str(info.value) and str(shifted) in str(info.value)
    other_labels = _folder(tmp_path / "relabelled",
                           _frame(1, shift=5, labels=(np.arange(N_TEST) // 2) % 2))
    with pytest.raises(DataError, match="different labels"):
        compare(str(f1), str(other_labels), n_boot=N_BOOT)


# --- record ---------------------------------------------------------------------------------


def test_read_predictions_round_trip_keeps_ids_as_text(tmp_path: Path) -> None:
    """Patient and study ids stay strings (leading zeros, ``NA``); numbers stay numbers."""
    frame = _frame(0).head(6).copy()
    frame["patient_id"] = ["0012", "0012", "NA", "NA", "007", "007"]
    frame["study_id"] = ["NA", "s1", "s2", "s3", "", "s5"]
    folder = _folder(tmp_path / "eval", frame)
    assert not list(folder.glob(".*tmp*"))
    back = read_predictions(folder)
    assert list(back.columns) == list(PREDICTION_COLUMNS)
    assert list(back["patient_id"]) == list(frame["patient_id"])
    assert list(back["study_id"]) == list(frame["study_id"])
    np.testing.assert_array_equal(back["prob"].to_numpy(), frame["prob"].to_numpy())
    np.testing.assert_array_equal(back["row"].to_numpy(), frame["row"].to_numpy())
    assert back["fraction"].dtype.kind == "f" and back["seed"].dtype.kind == "i"


def test_read_predictions_names_missing_columns(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "eval", _frame(0).drop(columns=["patient_id", "prob"]).head(3))
    with pytest.raises(DataError) as info:
        read_predictions(folder)
    assert PREDICTIONS_FILE in str(info.value)
    assert "patient_id" in str(info.value) and "prob" in str(info.value)


def test_write_record_adds_versions(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "eval"
    record = {"config": {"probe": "logistic", "seed": 3}, "summary": [{"auroc": 0.8}]}
    path = write_record(folder, record)
    assert path == folder / EVALUATION_FILE
    data = json.loads(path.read_text())
    assert data["config"] == record["config"] and data["summary"] == record["summary"]
    assert data["medaug_version"] == version("medaug")
    assert data["torch_version"] == torch.__version__
    assert data["written"]
    assert [p.name for p in folder.iterdir()] == [EVALUATION_FILE]


def test_default_seed_is_the_smallest_shared_one(tmp_path: Path) -> None:
    """Sides with seeds {0, 1} and {1, 2} at one fraction are compared at seed 1, not 0 vs 1."""
    rng = np.random.default_rng(3)
    n = 40
    labels = np.arange(n) % 2

    def side(name: str, seeds: tuple[int, ...]) -> Path:
        rows = []
        for s in seeds:
            for split in ("val", "test"):
                rows.append(pd.DataFrame({
                    "model": name, "probe": "logistic", "fraction": 0.1, "seed": s,
                    "split": split, "row": np.arange(n) + (0 if split == "test" else n),
                    "patient_id": [f"p{i}" for i in range(n)],
                    "study_id": [f"s{i}" for i in range(n)], "label": labels,
                    "prob": rng.random(n)}))
        folder = tmp_path / name
        write_table(folder / "predictions.csv", pd.concat(rows, ignore_index=True))
        return folder

    a, b = side("a", (0, 1)), side("b", (1, 2))
    table = compare(str(a), str(b), fraction=0.1, n_boot=N_BOOT)
    assert set(table["seed"]) == {1}
    with pytest.raises(DataError, match="share no label-subset seed"):
        compare(str(side("c", (5,))), str(a), fraction=0.1, n_boot=N_BOOT)


def test_evaluations_of_different_data_are_refused(folders: tuple[Path, Path]) -> None:
    """Same test rows and labels, but evaluation.json says the data differ."""
    f1, f2 = folders
    write_record(f1, {"data": {"fingerprint": "a" * 64}})
    write_record(f2, {"data": {"fingerprint": "b" * 64}})
    with pytest.raises(DataError, match="different data"):
        compare(str(f1), str(f2), n_boot=N_BOOT)
    write_record(f2, {"data": {"fingerprint": "a" * 64}})
    assert not compare(str(f1), str(f2), n_boot=N_BOOT).empty
