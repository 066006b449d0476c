"""The monitor writes a method's own epoch metrics (DINO's teacher entropy) as columns of
training.csv and prints the method's collapse signs as warnings, flagging the row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers import tiny_npz
from medaug.data.config import DataConfig, PrepareConfig
from medaug.data.preprocess import PreprocessConfig
from medaug.methods.dino import DINO
from medaug.train.monitor import read_training
from medaug.train.pretrain import run_pretrain
from medaug.train.pretrain_config import PretrainConfig


def _run(tmp_path: Path) -> tuple[list[str], Path]:
    npz = tiny_npz(tmp_path / "tiny.npz", n_train=16, n_val=8, n_test=8, size=16)
    data = PrepareConfig(DataConfig(f"medmnist:{npz}"), PreprocessConfig(size=16, clahe=False))
    config = PretrainConfig(method="dino", ops="flip", epochs=1, batch_size=8,
                            accelerator="cpu", backbone="resnet18-small",
                            method_args="output_dim=32,proj_hidden=32,proj_dim=16")
    said: list[str] = []
    run_pretrain(data, config, tmp_path / "run", say=said.append)
    return said, tmp_path / "run"


def test_dino_writes_its_teacher_entropy_per_epoch(tmp_path: Path) -> None:
    said, run = _run(tmp_path)
    rows = read_training(run)
    assert "teacher_entropy" in rows.columns
    entropy = rows.loc[rows["epoch"] == 0, "teacher_entropy"].iat[0]
    assert 0 < entropy <= np.log(32) + 1e-6
    assert any("teacher entropy" in line for line in said if line.startswith("epoch 0"))


def test_a_collapse_sign_is_printed_and_flags_the_row(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DINO, "collapse_warnings",
                        lambda self, row: [f"planted sign at epoch {row['epoch']}"])
    said, run = _run(tmp_path)
    assert "warning: planted sign at epoch 0" in said
    rows = read_training(run)
    assert bool(rows.loc[rows["epoch"] == 0, "collapse_warning"].iat[0])
