"""One epoch of real pretraining on the knee set at 64 px (CI runs it: the shared data is
there)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from medaug.data.config import DataConfig, PrepareConfig
from medaug.data.preprocess import PreprocessConfig
from medaug.store import load_encoder
from medaug.train.pretrain import run_pretrain
from medaug.train.pretrain_config import PretrainConfig


@pytest.mark.slow
@pytest.mark.data
def test_one_simclr_epoch_on_the_knee_set(shared_data: Path, tmp_path: Path) -> None:
    data = PrepareConfig(DataConfig("knee"), PreprocessConfig(size=64))
    result = run_pretrain(data, PretrainConfig(method="simclr", epochs=1, accelerator="cpu"),
                          tmp_path / "run", say=None)
    metrics = result.metrics
    assert metrics["epoch"].tolist() == [-1, 0]
    assert metrics["step"].tolist() == [0, 800 // 64]  # the knee train split: 800 images
    # SimCLR's loss starts near log(2B - 1) = log(127) = 4.84 and must be finite
    assert np.isfinite(metrics["loss"].iat[1]) and metrics["loss"].iat[1] < np.log(127) + 0.5
    assert 0.0 <= metrics["knn_balanced_acc"].iat[1] <= 1.0
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["data"]["train_images"] == 800 and run["status"] == "finished"
    encoder, info = load_encoder(tmp_path / "run")
    assert info["image_size"] == 64 and info["clahe"] is True
    assert encoder.eval()(torch.rand(2, 1, 64, 64)).shape == (2, 512)
