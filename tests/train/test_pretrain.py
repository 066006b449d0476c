"""The pretraining runner: the run folder, resume after a crash, and every bad input's
message (tiny 32 px images, ResNet-18, a few steps per epoch)."""

from __future__ import annotations

import json
import math
import signal
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch

from helpers import tiny_npz
from medaug.data.config import DataConfig, PrepareConfig
from medaug.data.preprocess import PreprocessConfig
from medaug.errors import AugmentError, ConfigError, TrainingError
from medaug.store import Interrupted, load_encoder
from medaug.train.monitor import COLUMNS, read_training
from medaug.train.pretrain import run_pretrain
from medaug.train.pretrain_config import PretrainConfig


def _data(tmp_path: Path, **kwargs: Any) -> PrepareConfig:
    npz = tiny_npz(tmp_path / "tiny.npz", **kwargs)
    return PrepareConfig(DataConfig(f"medmnist:{npz}"), PreprocessConfig(size=32, clahe=False))


def _config(**kwargs: Any) -> PretrainConfig:
    base: dict[str, Any] = {"ops": "flip+rotate", "epochs": 2, "batch_size": 8,
                            "accelerator": "cpu", "method_args": "proj_hidden=64,proj_dim=32"}
    return PretrainConfig(**{**base, **kwargs})


class Crash(L.Callback):
    """Raise in the middle of epoch ``epoch`` (its second batch), like a killed job."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == 1:
            raise RuntimeError("simulated crash")


class Epochs(L.Callback):
    """Record the epochs a run actually trains."""

    def __init__(self) -> None:
        self.trained: list[int] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.trained.append(trainer.current_epoch)


class NaNFrom(L.Callback):
    """Make the method's loss NaN from epoch ``epoch`` on."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            original = pl_module.views_loss

            def nan_loss(views: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
                loss, emb = original(views)
                return loss * float("nan"), emb

            pl_module.views_loss = nan_loss  # type: ignore[method-assign]


@pytest.mark.parametrize("method", ["simclr", "byol"])
def test_run_folder_holds_encoder_config_fingerprint_and_metrics(tmp_path: Path, method: str
                                                                 ) -> None:
    """A finished run leaves run.json (config, fingerprint, status), one metrics row per
    epoch with a kNN accuracy, a checkpoint and an encoder that loads."""
    data = _data(tmp_path)
    result = run_pretrain(data, _config(method=method), tmp_path / "run", say=None)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "finished"
    assert run["config"]["pretrain"]["method"] == method
    assert run["config"]["preprocess"]["size"] == 32
    assert run["data"]["fingerprint"] == result.cache.fingerprint
    metrics = read_training(tmp_path / "run")
    assert list(metrics.columns) == COLUMNS
    assert metrics["epoch"].tolist() == [-1, 0, 1]  # -1: the random init, before training
    assert metrics["step"].tolist() == [0, 6, 12]  # 48 images / batch 8 per epoch
    assert np.isnan(metrics["loss"].iat[0]) and 0 <= metrics["knn_acc"].iat[0] <= 1
    metrics = metrics[metrics["epoch"] >= 0]
    assert np.isfinite(metrics["loss"]).all()
    assert ((metrics["knn_acc"] >= 0) & (metrics["knn_acc"] <= 1)).all()
    assert (metrics["images_per_s"] > 0).all()
    # the spread is the embeddings' std scaled by sqrt(width): the projection is 32 wide
    np.testing.assert_allclose(metrics["emb_spread"], metrics["emb_std"] * np.sqrt(32),
                               rtol=1e-5)
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "run" / "curves.png").is_file()
    log = (tmp_path / "run" / "run.log").read_text()
    assert "random init: kNN acc" in log and "epoch 1: loss" in log
    encoder, info = load_encoder(tmp_path / "run")
    assert info["epoch"] == 1 and info["image_size"] == 32 and info["method"] == method
    features = encoder.eval()(torch.rand(2, 1, 32, 32))
    assert features.shape == (2, 512)


def test_resume_after_a_crash_reproduces_the_uninterrupted_loss_curve(tmp_path: Path) -> None:
    """Crash in the middle of epoch 2 of 3, resume: the per-epoch losses, kNN accuracies and
    the final encoder equal those of a run that was never interrupted."""
    data = _data(tmp_path)
    config = _config(method="byol", epochs=3)
    whole = run_pretrain(data, config, tmp_path / "whole", say=None).metrics
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_pretrain(data, config, tmp_path / "cut", callbacks=[Crash(epoch=2)], say=None)
    assert "simulated crash" in json.loads((tmp_path / "cut" / "run.json").read_text())["reason"]
    assert json.loads((tmp_path / "cut" / "run.json").read_text())["status"] == "failed"
    assert read_training(tmp_path / "cut")["epoch"].tolist() == [-1, 0, 1]
    epochs = Epochs()
    resumed = run_pretrain(data, config, tmp_path / "cut", resume=True, callbacks=[epochs],
                           say=None).metrics
    assert epochs.trained == [2]  # epochs 0 and 1 came from the checkpoint, not retraining
    assert resumed["epoch"].tolist() == [-1, 0, 1, 2]
    np.testing.assert_allclose(resumed["loss"], whole["loss"], rtol=1e-5)
    np.testing.assert_allclose(resumed["knn_acc"], whole["knn_acc"])
    a, _ = load_encoder(tmp_path / "whole")
    b, _ = load_encoder(tmp_path / "cut")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5, msg=name)


def test_resume_can_train_longer(tmp_path: Path) -> None:
    """``--resume --epochs N`` continues a finished run up to N epochs."""
    data = _data(tmp_path)
    run_pretrain(data, _config(epochs=1), tmp_path / "run", say=None)
    epochs = Epochs()
    metrics = run_pretrain(data, _config(epochs=2), tmp_path / "run", resume=True,
                           callbacks=[epochs], say=None).metrics
    assert epochs.trained == [1]
    assert metrics["epoch"].tolist() == [-1, 0, 1]


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path: Path
                                                                          ) -> None:
    data = _data(tmp_path)
    with pytest.raises(TrainingError, match=r"(?i)nan.*checkpoint"):
        run_pretrain(data, _config(epochs=3), tmp_path / "run", callbacks=[NaNFrom(1)],
                     say=None)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "failed" and "nan" in run["reason"]
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt",
                      weights_only=False)["epoch"] == 0
    _, info = load_encoder(tmp_path / "run")
    assert info["epoch"] == 0
    assert read_training(tmp_path / "run")["epoch"].tolist() == [-1, 0]


def test_a_folder_that_holds_a_run_needs_resume(tmp_path: Path) -> None:
    data = _data(tmp_path)
    run_pretrain(data, _config(epochs=1), tmp_path / "run", say=None)
    before = (tmp_path / "run" / "encoder.pt").read_bytes()
    with pytest.raises(TrainingError, match="--resume"):
        run_pretrain(data, _config(epochs=1), tmp_path / "run", say=None)
    assert (tmp_path / "run" / "encoder.pt").read_bytes() == before


def test_resume_needs_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="nothing to resume"):
        run_pretrain(_data(tmp_path), _config(), tmp_path / "none", resume=True, say=None)


@pytest.mark.parametrize("change", [{"method": "byol"}, {"ops": "flip"}, {"seed": 3}])
def test_resume_refuses_changed_settings(tmp_path: Path, change: dict[str, Any]) -> None:
    data = _data(tmp_path)
    run_pretrain(data, _config(epochs=1), tmp_path / "run", say=None)
    key = next(iter(change))
    with pytest.raises(ConfigError, match=f"pretrain.{key}"):
        run_pretrain(data, _config(epochs=2, **change), tmp_path / "run", resume=True,
                     say=None)


def test_batch_larger_than_the_dataset_is_refused_before_training(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match=r"batch size 64 .* 48 training images"):
        run_pretrain(_data(tmp_path), _config(batch_size=64), tmp_path / "run", say=None)
    assert not (tmp_path / "run" / "run.json").exists()


@pytest.mark.parametrize(("change", "error", "match"), [
    ({"method": "mocov9"}, ConfigError, "unknown method 'mocov9'"),
    ({"ops": "flip+twirl"}, AugmentError, "twirl"),
    ({"backbone": "vgg3"}, ConfigError, "unknown backbone 'vgg3'"),
    ({"optimizer": "lbfgs"}, ConfigError, "unknown optimizer 'lbfgs'"),
])
def test_bad_names_fail_before_any_data_work(tmp_path: Path, change: dict[str, Any],
                                             error: type[Exception], match: str) -> None:
    data = PrepareConfig(DataConfig(f"medmnist:{tmp_path / 'missing.npz'}"))
    with pytest.raises(error, match=match):
        run_pretrain(data, _config(**change), tmp_path / "run", say=None)


def test_empty_training_split_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="no images"):
        run_pretrain(_data(tmp_path, n_train=0), _config(), tmp_path / "run", say=None)


def test_collapse_is_flagged(tmp_path: Path) -> None:
    """A backbone whose output is constant gives embeddings of spread ~0, and the run says
    so in its metrics and its output."""
    lines: list[str] = []

    class Freeze(L.Callback):
        def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            original = pl_module.views_loss

            def collapsed(views: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
                loss, emb = original(views)
                return loss, torch.ones_like(emb) + 0 * emb

            pl_module.views_loss = collapsed  # type: ignore[method-assign]

    run_pretrain(_data(tmp_path), _config(epochs=1), tmp_path / "run", callbacks=[Freeze()],
                 say=lines.append)
    metrics = read_training(tmp_path / "run")
    assert metrics["collapse_warning"].tolist() == [False, True]  # init row, epoch 0
    assert math.isclose(metrics["emb_spread"].iat[1], 0.0, abs_tol=1e-6)
    assert math.isclose(metrics["emb_std"].iat[1], 0.0, abs_tol=1e-6)
    assert any("collaps" in line for line in lines)


def test_a_gpu_that_is_not_there_is_a_config_error(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="accelerator='gpu'"):
        run_pretrain(_data(tmp_path), _config(accelerator="gpu"), tmp_path / "run", say=None)


def test_a_timm_backbone_trains_and_its_encoder_loads(tmp_path: Path) -> None:
    run_pretrain(_data(tmp_path), _config(epochs=1, backbone="timm:resnet10t"),
                 tmp_path / "run", say=None)
    encoder, info = load_encoder(tmp_path / "run")
    assert info["backbone"] == "timm:resnet10t" and "timm.create_model" in info["torchvision"]
    assert encoder.eval()(torch.rand(2, 1, 32, 32)).shape == (2, info["feature_dim"])


def test_ctrl_c_marks_the_run_interrupted_and_resume_continues_it(tmp_path: Path) -> None:
    """Lightning turns Ctrl-C into a graceful shutdown; the run raises ``Interrupted`` with
    exit code 130 (as shells do), the run folder says "interrupted" and keeps its finished
    epochs."""

    class CtrlC(L.Callback):
        def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule
                                 ) -> None:
            if trainer.current_epoch == 1:
                raise KeyboardInterrupt

    data = _data(tmp_path)
    handler = signal.getsignal(signal.SIGINT)  # Lightning ignores Ctrl-C while it shuts down
    try:
        with pytest.raises(Interrupted, match="--resume") as stopped:
            run_pretrain(data, _config(), tmp_path / "run", callbacks=[CtrlC()], say=None)
    finally:
        signal.signal(signal.SIGINT, handler)
    assert stopped.value.exit_code == 130
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["status"] == "interrupted" and "--resume" in run["reason"]
    metrics = run_pretrain(data, _config(), tmp_path / "run", resume=True, say=None).metrics
    assert metrics["epoch"].tolist() == [-1, 0, 1]
