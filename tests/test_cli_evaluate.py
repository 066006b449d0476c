"""``medaug probe``, ``medaug supervised`` and ``medaug compare`` from the command line: the
tables they print, the folders they write, a run folder's data taken from its run.json, and
bad input as one ``error:`` line with exit status 2 (16 px images, ``resnet18-small``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result
from typer.testing import CliRunner

from helpers import tiny_npz
from medaug.cli import app

runner = CliRunner()
SIZE = 16
N_TRAIN, N_VAL, N_TEST = 16, 8, 8
RANDOM0 = "random-init(resnet18-small@0)"
EVALUATION_FILES = ("evaluation.json", "predictions.csv", "metrics.csv", "summary.csv",
                    "comparisons.csv")


@dataclass
class Invoked:
    """A command run once for the module, and the folder it wrote."""

    result: Result
    out: Path
    npz: Path


@pytest.fixture(scope="module")
def npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_npz(tmp_path_factory.mktemp("cli_evaluate") / "tiny.npz", n_train=N_TRAIN,
                    n_val=N_VAL, n_test=N_TEST, size=SIZE)


@pytest.fixture(scope="module")
def probed(npz: Path, cache_env: None, tmp_path_factory: pytest.TempPathFactory) -> Invoked:
    out = tmp_path_factory.mktemp("cli_probe") / "probe"
    result = runner.invoke(app, ["probe", "-e", "random:resnet18-small@0",
                                 "--data", f"medmnist:{npz}", "--size", str(SIZE), "--no-clahe",
                                 "--bootstrap", "100", "--device", "cpu", "--out", str(out)])
    return Invoked(result, out, npz)


@pytest.fixture(scope="module")
def supervised_run(npz: Path, cache_env: None, tmp_path_factory: pytest.TempPathFactory
                   ) -> Invoked:
    out = tmp_path_factory.mktemp("cli_supervised") / "sup"
    result = runner.invoke(app, ["supervised", "--data", f"medmnist:{npz}", "--size", str(SIZE),
                                 "--no-clahe", "--backbone", "resnet18-small", "--ops", "flip",
                                 "--epochs", "1", "--batch-size", "8", "--bootstrap", "100",
                                 "--accelerator", "cpu", "--out", str(out)])
    return Invoked(result, out, npz)


def _error_lines(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error:")]


def test_probe_prints_a_table_and_writes_the_evaluation_folder(probed: Invoked) -> None:
    assert probed.result.exit_code == 0, probed.result.output
    output = probed.result.output
    assert "AUROC" in output and RANDOM0 in output
    assert "logistic" in output and "knn" in output
    for name in EVALUATION_FILES:
        assert (probed.out / name).is_file(), name
    assert f"wrote {probed.out}/" in output
    record = json.loads((probed.out / "evaluation.json").read_text())
    assert record["config"]["data"]["dataset"] == f"medmnist:{probed.npz}"
    assert record["config"]["preprocess"]["size"] == SIZE
    assert record["config"]["preprocess"]["clahe"] is False
    assert record["config"]["probe"]["bootstrap"] == 100
    assert list(record["models"]) == [RANDOM0]
    summary = pd.read_csv(probed.out / "summary.csv")
    assert sorted(summary["probe"]) == ["knn", "logistic"]


def test_probe_of_a_missing_run_folder_is_one_error_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-run"
    result = runner.invoke(app, ["probe", "-e", str(missing), "--out", str(tmp_path / "eval")])
    assert result.exit_code == 2
    errors = _error_lines(result)
    assert len(errors) == 1 and str(missing) in errors[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "eval").exists()


@pytest.mark.parametrize(("command", "options", "named"), [
    ("probe", ["--label-fractions", "2"], "label fractions"),
    ("supervised", ["--label-fractions", "2"], "label fractions"),
    ("probe", ["--class-weight", "x"], "class_weight"),
    ("probe", ["--probes", "svm"], "probes"),
    ("probe", ["--bootstrap", "10"], "bootstrap"),
    ("supervised", ["--epochs", "0"], "epochs"),
    ("supervised", ["--optimizer", "rmsprop"], "optimizer"),
])
def test_bad_options_exit_2_with_one_error_line(tmp_path: Path, command: str,
                                                options: list[str], named: str) -> None:
    encoder = ["-e", "random:resnet18-small@0"] if command == "probe" else []
    result = runner.invoke(app, [command, *encoder, *options, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    errors = _error_lines(result)
    assert len(errors) == 1 and named in errors[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_supervised_trains_and_prints_its_test_metrics(supervised_run: Invoked) -> None:
    assert supervised_run.result.exit_code == 0, supervised_run.result.output
    output = supervised_run.result.output
    assert "AUROC" in output and "end-to-end" in output
    assert f"wrote {supervised_run.out}/" in output
    run = json.loads((supervised_run.out / "run.json").read_text())
    assert run["status"] == "finished" and run["epochs"] == 1
    assert run["config"]["preprocess"]["size"] == SIZE
    assert run["config"]["supervised"]["backbone"] == "resnet18-small"
    info = json.loads((supervised_run.out / "encoder.json").read_text())
    assert info["method"] == "supervised"
    for name in ("encoder.pt", "head.pt", "predictions.csv", "metrics.csv", "summary.csv"):
        assert (supervised_run.out / name).is_file(), name
    preds = pd.read_csv(supervised_run.out / "predictions.csv")
    assert set(preds["probe"]) == {"end-to-end"}


def test_probe_of_a_run_folder_takes_the_runs_data_and_size(
        supervised_run: Invoked, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No --data, --size or --no-clahe: the defaults (pneumoniamnist, 64 px, CLAHE) would be
    wrong; the run's run.json says what it was trained on."""
    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("the probe tried to download a dataset")

    monkeypatch.setattr("medaug.data.sources.medmnist.download_file", no_download)
    assert supervised_run.result.exit_code == 0, supervised_run.result.output
    out = tmp_path / "eval"
    result = runner.invoke(app, ["probe", "-e", str(supervised_run.out), "--probes", "logistic",
                                 "--bootstrap", "100", "--device", "cpu", "--out", str(out)])
    assert result.exit_code == 0, result.output
    run = json.loads((supervised_run.out / "run.json").read_text())
    record = json.loads((out / "evaluation.json").read_text())
    assert record["config"]["data"]["dataset"] == run["config"]["data"]["dataset"]
    assert record["config"]["data"]["dataset"] == f"medmnist:{supervised_run.npz}"
    assert record["config"]["preprocess"]["size"] == SIZE
    assert record["config"]["preprocess"]["clahe"] is False
    assert record["data"]["fingerprint"] == run["data"]["fingerprint"]
    assert "note:" not in result.output  # evaluated at the size and CLAHE it was trained at
    # the run's random-init twin (its backbone at its seed, 0) is probed and compared
    assert set(record["models"]) == {"sup", RANDOM0}
    comparisons = pd.read_csv(out / "comparisons.csv")
    assert set(comparisons["model_a"]) == {"sup"} and set(comparisons["model_b"]) == {RANDOM0}
    assert "paired AUROC difference" in result.output


def test_compare_prints_the_paired_difference(probed: Invoked, supervised_run: Invoked,
                                              tmp_path: Path) -> None:
    assert probed.result.exit_code == 0 and supervised_run.result.exit_code == 0
    table = tmp_path / "compare.csv"
    result = runner.invoke(app, ["compare", str(probed.out), str(supervised_run.out),
                                 "--bootstrap", "200", "--out", str(table)])
    assert result.exit_code == 0, result.output
    assert "difference" in result.output
    assert f"wrote {table}" in result.output
    rows = pd.read_csv(table)
    assert len(rows) == 1  # one seed, image level (every image its own study)
    row = rows.iloc[0]
    assert row["model_a"] == f"probe:{RANDOM0}" and row["model_b"] == "sup:supervised"
    assert row["probe"] == "logistic/end-to-end" and row["n"] == N_TEST
    assert row["difference"] == pytest.approx(row["value_a"] - row["value_b"])
    assert 0 <= row["p_value"] <= 1


def test_compare_with_a_folder_without_predictions_is_one_error_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "other").mkdir()
    result = runner.invoke(app, ["compare", str(tmp_path / "empty"), str(tmp_path / "other")])
    assert result.exit_code == 2
    errors = _error_lines(result)
    assert len(errors) == 1
    assert str(tmp_path / "empty") in errors[0] and "predictions.csv" in errors[0]
    assert "Traceback" not in result.output
