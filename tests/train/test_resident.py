"""Train images resident on the training device (``resident``): on the CPU the resident path
holds them in RAM and must train exactly as streaming from the memory map does (same
batches, same order, same losses and weights); pairs gather ``(B, 2, S, S)``; ``auto``
never copies to the CPU and only copies to a GPU when they fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch

from helpers import tiny_npz
from medaug.data.config import DataConfig, PrepareConfig
from medaug.data.preprocess import PreprocessConfig
from medaug.errors import ConfigError
from medaug.store import load_encoder
from medaug.train.data import CacheDataModule
from medaug.train.positives import partner_table
from medaug.train.pretrain import run_pretrain
from medaug.train.pretrain_config import PretrainConfig
from medaug.train.resident import ResidentImages, choose_resident, fits_on, train_bytes


class Batches(L.Callback):
    """Keep every training batch as the step sees it (after the device transfer)."""

    def __init__(self) -> None:
        self.seen: list[torch.Tensor] = []
        self.resident: list[bool] = []

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        self.seen.append(batch.clone())
        self.resident.append(trainer.datamodule.resident is not None)


def test_resident_run_trains_exactly_as_a_streamed_one(tmp_path: Path) -> None:
    npz = tiny_npz(tmp_path / "tiny.npz")
    data = PrepareConfig(DataConfig(f"medmnist:{npz}"), PreprocessConfig(size=32, clahe=False))
    runs = {}
    for mode in ("off", "on"):
        config = PretrainConfig(ops="flip+rotate", epochs=2, batch_size=8, accelerator="cpu",
                                method_args="proj_hidden=64,proj_dim=32", resident=mode)
        batches = Batches()
        result = run_pretrain(data, config, tmp_path / mode, say=None, callbacks=[batches])
        runs[mode] = (result.metrics, batches.seen)
        assert set(batches.resident) == {mode == "on"}
    (streamed, s_batches), (resident, r_batches) = runs["off"], runs["on"]
    assert len(s_batches) == len(r_batches) > 2
    for a, b in zip(s_batches, r_batches, strict=True):
        assert a.dtype == b.dtype == torch.uint8 and a.shape == b.shape
        assert torch.equal(a, b)
    np.testing.assert_allclose(resident["loss"], streamed["loss"], rtol=1e-6)
    a, _ = load_encoder(tmp_path / "off")
    b, _ = load_encoder(tmp_path / "on")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        torch.testing.assert_close(x, y, msg=name)


def test_resident_pairs_gather_the_partners_the_streamed_loader_reads() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 8, 8), dtype=np.uint8)
    rows = np.arange(2, 18)
    partners = partner_table(np.repeat(np.arange(8), 2))  # 8 patients with 2 images each
    batches = {}
    for mode in ("off", "on"):
        dm = CacheDataModule(images, rows, batch_size=4, seed=3, partners=partners,
                             resident=mode)
        assert dm.place(torch.device("cpu")) is (mode == "on")
        loader = dm.train_dataloader()
        loader.sampler.set_epoch(1)
        batches[mode] = [dm.on_after_batch_transfer(b, 0) for b in loader]
    assert len(batches["on"]) == 4
    for a, b in zip(batches["off"], batches["on"], strict=True):
        assert b.shape == (4, 2, 8, 8)
        assert torch.equal(a, b)


def test_auto_keeps_the_memory_map_on_the_cpu_and_refuses_a_bad_value() -> None:
    cpu = torch.device("cpu")
    assert not choose_resident("auto", cpu, 10)
    assert choose_resident("on", cpu, 10) and not choose_resident("off", cpu, 10)
    assert not fits_on(cpu, 1)
    with pytest.raises(ConfigError, match="resident must be"):
        choose_resident("sometimes", cpu, 10)
    with pytest.raises(ConfigError, match="resident must be auto, on or off"):
        PretrainConfig(resident="yes")
    images = np.zeros((5, 4, 6), dtype=np.uint8)
    assert train_bytes(images, 3) == 72
    resident = ResidentImages(images, np.array([0, 2, 4]), cpu)
    assert resident.nbytes == 72 and resident.gather(torch.tensor([2, 0])).shape == (2, 4, 6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_auto_goes_resident_on_a_gpu_when_it_fits() -> None:  # pragma: no cover - GPU only
    gpu = torch.device("cuda")
    assert choose_resident("auto", gpu, 1 << 20)
    assert not choose_resident("auto", gpu, 1 << 50)
