"""A run with multi-crop and no --local-size takes the local size from the cache's image size
(3/7 of it), as `medaug pretrain --method dino --local-crops N` is run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L

from helpers import tiny_npz
from medaug.data.config import DataConfig, PrepareConfig
from medaug.data.preprocess import PreprocessConfig
from medaug.train.pretrain import run_pretrain
from medaug.train.pretrain_config import PretrainConfig


def test_local_views_take_their_size_from_the_image_size(tmp_path: Path) -> None:
    npz = tiny_npz(tmp_path / "tiny.npz", n_train=16, n_val=8, n_test=8, size=16)
    data = PrepareConfig(DataConfig(f"medmnist:{npz}"), PreprocessConfig(size=16, clahe=False))
    sizes: list[tuple[int, ...]] = []

    class Views(L.Callback):
        def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, i: int) -> None:
            if not sizes:
                sizes.extend(tuple(v.shape[-2:]) for v in module.make_views(batch))

    config = PretrainConfig(method="dino", ops="crop+flip", epochs=1, batch_size=8,
                            accelerator="cpu", backbone="resnet18-small", local_crops=2,
                            method_args="output_dim=32,proj_hidden=32,proj_dim=16")
    result = run_pretrain(data, config, tmp_path / "run", say=None, callbacks=[Views()])
    assert sizes == [(16, 16), (16, 16), (7, 7), (7, 7)]  # 3/7 of 16 px, rounded
    assert result.metrics["epoch"].tolist() == [-1, 0]
