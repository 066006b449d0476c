"""A supervised run that crashes keeps its finished epochs; ``resume`` continues it to the
numbers of the uninterrupted run (the CPU is deterministic: the shuffle is seeded by (seed,
epoch) and the augmentation by (seed, step)); without ``resume`` it is refused."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import pandas as pd
import pytest

from helpers import tiny_npz
from medaug.data.config import DataConfig, PrepareConfig
from medaug.data.preprocess import PreprocessConfig
from medaug.errors import TrainingError
from medaug.train.supervised import SupervisedConfig, run_supervised_grid


class CrashAfter(L.Callback):
    """Raise at the end of training epoch ``epoch`` (after that epoch's checkpoint)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("simulated crash")


@pytest.fixture
def data(tmp_path: Path) -> PrepareConfig:
    npz = tiny_npz(tmp_path / "tiny.npz", n_train=16, n_val=8, n_test=8, size=16)
    return PrepareConfig(DataConfig(f"medmnist:{npz}"), PreprocessConfig(size=16, clahe=False))


def test_a_crashed_run_resumes_to_the_uninterrupted_result(data: PrepareConfig,
                                                           tmp_path: Path) -> None:
    config = SupervisedConfig(backbone="resnet18-small", ops="flip+rotate", epochs=3,
                              batch_size=8, bootstrap=100, accelerator="cpu")
    whole = run_supervised_grid(data, config, tmp_path / "whole", say=None)

    crashed = tmp_path / "crashed"
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_supervised_grid(data, config, crashed, say=None, callbacks=[CrashAfter(1)])
    run = json.loads((crashed / "run.json").read_text())
    assert run["status"] == "failed" and "simulated crash" in run["reason"]
    assert (crashed / "checkpoints" / "last.ckpt").is_file()
    assert (crashed / "encoder.pt").is_file()  # the best epoch so far is kept

    with pytest.raises(TrainingError, match="--resume"):
        run_supervised_grid(data, config, crashed, say=None)
    resumed = run_supervised_grid(data, config, crashed, resume=True, say=None)
    assert json.loads((crashed / "run.json").read_text())["status"] == "finished"
    pd.testing.assert_series_equal(resumed.predictions["prob"], whole.predictions["prob"],
                                   check_exact=False, rtol=1e-5, atol=1e-6)
    log = pd.read_csv(crashed / "training.csv")
    assert list(log["epoch"]) == [0, 1, 2]
