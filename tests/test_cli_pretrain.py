"""``medaug pretrain`` from the command line: options, ``--config``, ``--resume``, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from helpers import tiny_npz
from medaug.cli import app

runner = CliRunner()
FAST = ["--size", "32", "--no-clahe", "--ops", "flip", "--batch-size", "8", "--method-args",
        "proj_hidden=64,proj_dim=32", "--accelerator", "cpu"]


def test_pretrain_writes_a_run_and_resume_continues_it(tmp_path: Path) -> None:
    npz = tiny_npz(tmp_path / "tiny.npz")
    out = tmp_path / "run"
    result = runner.invoke(app, ["pretrain", "--data", f"medmnist:{npz}", "--method", "byol",
                                 "--epochs", "1", *FAST, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "epoch 0: loss" in result.output and "kNN acc" in result.output
    assert "encoder.pt" in result.output
    again = runner.invoke(app, ["pretrain", "--data", f"medmnist:{npz}", "--epochs", "1",
                                *FAST, "--out", str(out)])
    assert again.exit_code == 2 and "--resume" in again.output
    # --resume takes the saved settings (method, data, size...) and only the new epoch count
    resumed = runner.invoke(app, ["pretrain", "--out", str(out), "--resume", "--epochs", "2"])
    assert resumed.exit_code == 0, resumed.output
    assert "epoch 1: loss" in resumed.output and "epoch 0:" not in resumed.output
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["pretrain"]["method"] == "byol"
    assert run["config"]["pretrain"]["epochs"] == 2


def test_pretrain_reads_a_config_file_and_options_override_it(tmp_path: Path) -> None:
    npz = tiny_npz(tmp_path / "tiny.npz")
    config = tmp_path / "c.yaml"
    config.write_text(f"data:\n  dataset: medmnist:{npz}\npreprocess:\n  size: 32\n  clahe: false\n"
                      "pretrain:\n  method: byol\n  epochs: 3\n  batch_size: 8\n  ops: flip\n"
                      "  method_args:\n    proj_hidden: 64\n    proj_dim: 32\n  accelerator: cpu\n")
    out = tmp_path / "run"
    result = runner.invoke(app, ["pretrain", "--config", str(config), "--epochs", "1",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "run.json").read_text())["config"]
    assert saved["pretrain"]["method"] == "byol"  # from the file
    assert saved["pretrain"]["epochs"] == 1  # from the command line
    assert saved["pretrain"]["method_args"] == "proj_hidden=64,proj_dim=32"  # a mapping, saved
    assert saved["preprocess"]["size"] == 32


def test_unknown_pretrain_key_in_config_names_the_valid_ones(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("pretrain:\n  methd: byol\n")
    result = runner.invoke(app, ["pretrain", "--config", str(config), "--out",
                                 str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "methd" in result.output and "method" in result.output


def test_unknown_method_exits_2_with_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["pretrain", "--method", "mocov9", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "unknown method 'mocov9'" in result.output
    assert "Traceback" not in result.output


def test_method_args_reach_the_method(tmp_path: Path, monkeypatch) -> None:
    """``--method-args`` values reach the method's constructor, converted by its annotations,
    with the base arguments beside them."""
    import medaug.train.pretrain as pretrain
    from medaug.errors import ConfigError

    seen: dict = {}

    def capture(name: str, **kwargs: object) -> None:
        seen.update(kwargs, name=name)
        raise ConfigError("stop here")

    monkeypatch.setattr(pretrain, "create_method", capture)
    result = runner.invoke(app, ["pretrain", "--method", "simclr", "--method-args",
                                 "temperature=0.5, proj_dim=64", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "stop here" in result.output
    assert seen["name"] == "simclr"
    assert seen["temperature"] == 0.5 and isinstance(seen["temperature"], float)
    assert seen["proj_dim"] == 64 and isinstance(seen["proj_dim"], int)
    assert seen["gather_distributed"] is False
    assert {"backbone", "views", "optim", "seed"} <= set(seen)


def test_bad_method_arg_is_one_line_listing_the_valid_ones(tmp_path: Path) -> None:
    result = runner.invoke(app, ["pretrain", "--method", "byol", "--method-args",
                                 "temperature=0.5", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    line = next(x for x in result.output.splitlines() if "temperature" in x)
    assert "byol has no argument 'temperature'" in line
    assert "valid: proj_hidden, proj_dim, momentum_base" in line


def test_removed_method_options_are_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["pretrain", "--temperature", "0.5", "--out",
                                 str(tmp_path / "r")])
    assert result.exit_code == 2 and "--temperature" in result.output


def test_curves_draws_several_runs_and_names_a_folder_without_metrics(tmp_path: Path) -> None:
    from medaug.train.monitor import COLUMNS, write_training

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        write_training(tmp_path / name,
                       pd.DataFrame([dict.fromkeys(COLUMNS, 0.5) | {"epoch": 0}]))
    out = tmp_path / "c.png"
    result = runner.invoke(app, ["curves", str(tmp_path / "a"), str(tmp_path / "b"), "--out",
                                 str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and out.stat().st_size > 1000
    bad = runner.invoke(app, ["curves", str(tmp_path / "a"), str(tmp_path / "nothing")])
    assert bad.exit_code == 2 and "nothing" in bad.output and "training.csv" in bad.output


def test_view_options_reach_the_pretrain_config(tmp_path: Path, monkeypatch) -> None:
    """``--positives``, ``--local-crops`` and ``--local-size`` land in the PretrainConfig the
    runner gets; a bad ``--positives`` is one line."""
    import medaug.train.pretrain as pretrain
    from medaug.errors import ConfigError

    seen: dict = {}

    def capture(data: object, config: object, *args: object, **kwargs: object) -> None:
        seen["config"] = config
        raise ConfigError("stop here")

    monkeypatch.setattr(pretrain, "run_pretrain", capture)
    result = runner.invoke(app, ["pretrain", "--positives", "patient", "--local-crops", "4",
                                 "--local-size", "24", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "stop here" in result.output
    config = seen["config"]
    assert (config.positives, config.local_crops, config.local_size) == ("patient", 4, 24)
    bad = runner.invoke(app, ["pretrain", "--positives", "cousin", "--out", str(tmp_path / "b")])
    assert bad.exit_code == 2 and "positives must be image, study or patient" in bad.output
    assert "Traceback" not in bad.output
