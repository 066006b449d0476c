"""Run folders made before the reshape still load and resume: per-epoch rows kept as
``metrics.csv`` (pretraining) or ``train_metrics.csv`` (supervised) are read and moved to
``training.csv``, and a ``pretrain`` section without the fields added since (``method_args``,
``local_crops``, ...) but with the old per-method keys resumes as the same settings. And a
runner given an opened dataset does not open it again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import medaug.data.open as opener
from helpers import tiny_npz
from medaug.data.config import DataConfig, PrepareConfig
from medaug.data.open import open_dataset
from medaug.data.preprocess import PreprocessConfig
from medaug.store import TRAINING_FILE, training_log_path
from medaug.train.curves import check_runs
from medaug.train.monitor import read_training
from medaug.train.pretrain import run_pretrain
from medaug.train.pretrain_config import PretrainConfig


def _data(tmp_path: Path) -> PrepareConfig:
    npz = tiny_npz(tmp_path / "tiny.npz")
    return PrepareConfig(DataConfig(f"medmnist:{npz}"), PreprocessConfig(size=32, clahe=False))


def _config(**kwargs: Any) -> PretrainConfig:
    base: dict[str, Any] = {"ops": "flip", "epochs": 1, "batch_size": 8, "accelerator": "cpu",
                            "backbone": "resnet18-small", "method_args": "temperature=0.2"}
    return PretrainConfig(**{**base, **kwargs})


def _make_old(folder: Path) -> pd.DataFrame:
    """Turn a new run folder into the old layout: rows in metrics.csv, and a pretrain section
    with the old keys (temperature, momentum_base, proj_hidden, proj_dim) and without the
    fields added since."""
    rows = pd.read_csv(folder / TRAINING_FILE)
    (folder / TRAINING_FILE).rename(folder / "metrics.csv")
    record = json.loads((folder / "run.json").read_text())
    section = record["config"]["pretrain"]
    for key in ("method_args", "local_crops", "local_size"):
        section.pop(key)
    section.update(temperature=0.2, momentum_base=None, proj_hidden=None, proj_dim=None)
    (folder / "run.json").write_text(json.dumps(record))
    return rows


def test_an_old_pretraining_folder_is_read_and_resumes_into_the_new_layout(
        tmp_path: Path) -> None:
    data, run = _data(tmp_path), tmp_path / "run"
    run_pretrain(data, _config(), run, say=None)
    rows = _make_old(run)
    assert training_log_path(run) == run / "metrics.csv"
    pd.testing.assert_frame_equal(read_training(run), rows)
    check_runs([run])  # `medaug curves` finds its rows
    result = run_pretrain(data, _config(epochs=2), run, resume=True, say=None)
    assert not (run / "metrics.csv").exists()
    assert result.metrics["epoch"].tolist() == [-1, 0, 1]
    pd.testing.assert_frame_equal(pd.read_csv(run / TRAINING_FILE).iloc[:2], rows)


def test_an_old_folder_with_other_settings_is_still_refused(tmp_path: Path) -> None:
    from medaug.errors import ConfigError

    data, run = _data(tmp_path), tmp_path / "run"
    run_pretrain(data, _config(), run, say=None)
    _make_old(run)
    with pytest.raises(ConfigError, match=r"pretrain\.method_args"):
        run_pretrain(data, _config(epochs=2, method_args="temperature=0.5"), run, resume=True,
                     say=None)


def test_old_supervised_rows_are_found_under_their_old_name(tmp_path: Path) -> None:
    rows = pd.DataFrame({"epoch": [0, 1], "step": [3, 6], "loss": [0.7, 0.6],
                         "val_auroc": [0.5, 0.6]})
    rows.to_csv(tmp_path / "train_metrics.csv", index=False)
    pd.DataFrame({"metric": ["auroc"], "value": [0.7]}).to_csv(tmp_path / "metrics.csv",
                                                               index=False)
    assert training_log_path(tmp_path) == tmp_path / "train_metrics.csv"


def test_evaluation_metrics_are_never_taken_for_training_rows(tmp_path: Path) -> None:
    pd.DataFrame({"metric": ["auroc"], "epoch": [0], "value": [0.7]}).to_csv(
        tmp_path / "metrics.csv", index=False)
    assert training_log_path(tmp_path) == tmp_path / TRAINING_FILE
    assert read_training(tmp_path).empty


def test_a_runner_given_an_opened_dataset_does_not_open_it_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _data(tmp_path)
    cache = open_dataset(data)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the dataset was opened again")

    monkeypatch.setattr(opener, "load_dataset", refuse)
    result = run_pretrain(data, _config(), tmp_path / "run", say=None, cache=cache)
    assert result.cache is cache
    with pytest.raises(AssertionError, match="opened again"):
        run_pretrain(data, _config(), tmp_path / "other", say=None)
