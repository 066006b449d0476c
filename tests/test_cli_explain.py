"""``medaug explain`` from the command line (16 px images, ``resnet18-small``).

Pinned here: it exits 0, prints the faithfulness table with every model's name and a
``wrote`` line, and writes the explanation folder; ``--runs A B`` (B positional) is the same as
``--runs A --runs B``; data and preprocessing default to the first run's ``run.json``; a bad
option or a missing run folder is one ``error:`` line with exit status 2 and nothing written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import Result
from torch import nn
from typer.testing import CliRunner

from helpers import tiny_npz
from medaug.cli import app
from medaug.evaluate.encoders import random_backbone
from medaug.explain.run import (
    FAITHFULNESS_FILE,
    HEATMAPS_FILE,
    IMAGES_FILE,
    PAIRS_FILE,
    PANEL_FILE,
    RECORD_FILE,
)
from medaug.models.backbones import feature_dim
from medaug.store import export_encoder, save_state_dict
from medaug.train.classifier import HEAD_FILE

runner = CliRunner()
SIZE = 16
N_TRAIN, N_VAL, N_TEST = 16, 8, 8
BACKBONE = "resnet18-small"
PRETRAIN_NAME = "simclr-tiny"
SUPERVISED_NAME = "supervised-tiny"


@dataclass
class Runs:
    """Two run folders trained (so their run.json says) on the module's npz."""

    npz: Path
    pretrain: Path
    supervised: Path


@dataclass
class Invoked:
    """``medaug explain`` run once for the module, and the folder it wrote."""

    result: Result
    out: Path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    base = tmp_path_factory.mktemp("cli_explain")
    npz = tiny_npz(base / "tiny.npz", n_train=N_TRAIN, n_val=N_VAL, n_test=N_TEST, size=SIZE)
    config = {"data": {"dataset": f"medmnist:{npz}", "seed": 0},
              "preprocess": {"size": SIZE, "clahe": False}}
    pretrain = base / "runs" / PRETRAIN_NAME
    export_encoder(random_backbone(BACKBONE, 1), pretrain, BACKBONE, method="simclr",
                   image_size=SIZE, clahe=False)
    (pretrain / "run.json").write_text(json.dumps(
        {"status": "finished", "config": {**config, "pretrain": {"seed": 1}}}))
    supervised = base / "runs" / SUPERVISED_NAME
    backbone = random_backbone(BACKBONE, 2)
    export_encoder(backbone, supervised, BACKBONE, method="supervised", image_size=SIZE,
                   clahe=False)
    torch.manual_seed(0)
    save_state_dict(nn.Linear(feature_dim(backbone), 1), supervised / HEAD_FILE)
    (supervised / "run.json").write_text(json.dumps({"status": "finished", "config": config}))
    return Runs(npz, pretrain, supervised)


def _options(runs: Runs) -> list[str]:
    return ["--data", f"medmnist:{runs.npz}", "--size", str(SIZE), "--no-clahe", "--images",
            "4", "--bootstrap", "100", "--device", "cpu"]


@pytest.fixture(scope="module")
def explained(runs: Runs, cache_env: None, tmp_path_factory: pytest.TempPathFactory
              ) -> Invoked:
    out = tmp_path_factory.mktemp("cli_explain_out") / "explain"
    result = runner.invoke(app, ["explain", "--runs", str(runs.pretrain), str(runs.supervised),
                                 *_options(runs), "--faithfulness-images", "4",
                                 "--out", str(out)])
    return Invoked(result, out)


def _error_lines(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error:")]


def test_explain_prints_the_faithfulness_table_and_writes_the_folder(explained: Invoked
                                                                     ) -> None:
    assert explained.result.exit_code == 0, explained.result.output
    output = explained.result.output
    assert "faithfulness" in output and "ROAD" in output
    assert "paired differences" in output
    table = output[output.index("heat-map faithfulness"):]
    assert PRETRAIN_NAME in table and SUPERVISED_NAME in table
    assert "wrote" in output and PANEL_FILE in output
    assert "Traceback" not in output
    for name in (PANEL_FILE, IMAGES_FILE, HEATMAPS_FILE, FAITHFULNESS_FILE, PAIRS_FILE,
                 RECORD_FILE):
        assert (explained.out / name).is_file(), name
    summary = pd.read_csv(explained.out / FAITHFULNESS_FILE)
    assert summary["model"].tolist() == [PRETRAIN_NAME, SUPERVISED_NAME]
    assert (summary["images"] == 4).all()
    record = json.loads((explained.out / RECORD_FILE).read_text())
    assert record["config"]["explain"]["images"] == 4
    assert record["config"]["explain"]["faithfulness_images"] == 4
    assert record["config"]["explain"]["bootstrap"] == 100
    assert record["config"]["explain"]["class_weight"] is None  # --class-weight none
    assert record["config"]["preprocess"]["size"] == SIZE
    assert list(record["models"]) == [PRETRAIN_NAME, SUPERVISED_NAME]


def test_repeated_runs_option_is_the_same_as_space_separated_runs(
        runs: Runs, explained: Invoked, tmp_path: Path) -> None:
    assert explained.result.exit_code == 0, explained.result.output
    out = tmp_path / "repeated"
    result = runner.invoke(app, ["explain", "--runs", str(runs.pretrain), "--runs",
                                 str(runs.supervised), *_options(runs),
                                 "--faithfulness-images", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(pd.read_csv(out / IMAGES_FILE),
                                  pd.read_csv(explained.out / IMAGES_FILE))
    record = json.loads((out / RECORD_FILE).read_text())
    assert list(record["models"]) == [PRETRAIN_NAME, SUPERVISED_NAME]
    assert pd.read_csv(out / FAITHFULNESS_FILE).empty  # --faithfulness-images 0: no table
    assert "heat-map faithfulness" not in result.output


def test_data_and_size_default_to_the_first_runs(runs: Runs, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """No --data, --size or --no-clahe: the defaults (pneumoniamnist, 64 px, CLAHE) would be
    wrong; the first run's run.json says what it was trained on."""
    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("explain tried to download a dataset")

    monkeypatch.setattr("medaug.data.sources.medmnist.download_file", no_download)
    out = tmp_path / "defaults"
    result = runner.invoke(app, ["explain", "--runs", str(runs.pretrain), str(runs.supervised),
                                 "--images", "2", "--faithfulness-images", "0", "--bootstrap",
                                 "100", "--device", "cpu", "--out", str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads((out / RECORD_FILE).read_text())
    assert record["config"]["data"]["dataset"] == f"medmnist:{runs.npz}"
    assert record["config"]["preprocess"]["size"] == SIZE
    assert record["config"]["preprocess"]["clahe"] is False
    assert record["config"]["explain"]["images"] == 2  # the options still apply
    assert "was trained at" not in result.output  # at the size and CLAHE it was trained at


def test_images_named_with_the_image_option_are_shown_in_order(runs: Runs, explained: Invoked,
                                                              tmp_path: Path) -> None:
    assert explained.result.exit_code == 0, explained.result.output
    first = pd.read_csv(explained.out / IMAGES_FILE)
    shown = first[first["model"] == PRETRAIN_NAME]
    picked = shown.sort_values("row", ascending=False)[["row", "index"]].head(2)
    out = tmp_path / "named"
    result = runner.invoke(app, ["explain", "--runs", str(runs.pretrain), str(runs.supervised),
                                 *_options(runs), "--faithfulness-images", "0",
                                 *[a for i in picked["index"] for a in
                                   ("--image", f"{runs.npz}#{i}")], "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / IMAGES_FILE)
    for name in (PRETRAIN_NAME, SUPERVISED_NAME):
        part = table[table["model"] == name].sort_values("panel_row")
        assert part["row"].tolist() == picked["row"].tolist()  # --images 4 is ignored


def test_an_image_not_in_the_data_is_one_error_line(runs: Runs, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["explain", "--runs", str(runs.pretrain), *_options(runs),
                                 "--image", "KL4/missing.png", "--out", str(out)])
    assert result.exit_code == 2, result.output
    errors = _error_lines(result)
    assert len(errors) == 1 and "KL4/missing.png" in errors[0]
    assert not out.exists() or not any(out.iterdir())


def test_a_bad_method_is_one_error_line(runs: Runs, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["explain", "--runs", str(runs.pretrain), "--method", "lime",
                                 "--device", "cpu", "--out", str(out)])
    assert result.exit_code == 2, result.output
    errors = _error_lines(result)
    assert len(errors) == 1 and "method" in errors[0] and "lime" in errors[0]
    assert "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.parametrize(("options", "named"), [
    (["--target", "normal"], "target"),
    (["--faithfulness-images", "-1"], "faithfulness_images"),
    (["--threshold", "bogus"], "threshold"),
    (["--bootstrap", "10"], "bootstrap"),
])
def test_bad_options_are_one_error_line(runs: Runs, tmp_path: Path, options: list[str],
                                        named: str) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["explain", "--runs", str(runs.pretrain), *options,
                                 "--out", str(out)])
    assert result.exit_code == 2, result.output
    errors = _error_lines(result)
    assert len(errors) == 1 and named in errors[0]
    assert not out.exists()


def test_a_missing_run_folder_is_one_error_line_naming_it(runs: Runs, tmp_path: Path
                                                         ) -> None:
    missing = tmp_path / "no-such-run"
    out = tmp_path / "out"
    result = runner.invoke(app, ["explain", "--runs", str(runs.pretrain), str(missing),
                                 *_options(runs), "--out", str(out)])
    assert result.exit_code == 2, result.output
    errors = _error_lines(result)
    assert len(errors) == 1 and str(missing) in errors[0]
    assert "Traceback" not in result.output
    assert not out.exists()


def test_no_runs_is_one_error_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["explain", "--out", str(out)])
    assert result.exit_code == 2, result.output
    errors = _error_lines(result)
    assert len(errors) == 1 and "--runs" in errors[0]
    assert not out.exists()


def test_a_probe_folder_without_saved_probes_is_one_error_line(runs: Runs, tmp_path: Path
                                                               ) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["explain", "--runs", str(runs.pretrain), *_options(runs),
                                 "--probe", str(tmp_path), "--out", str(out)])
    assert result.exit_code == 2, result.output
    errors = _error_lines(result)
    assert len(errors) == 1 and "no saved probes" in errors[0] and str(tmp_path) in errors[0]
    assert not out.exists()
