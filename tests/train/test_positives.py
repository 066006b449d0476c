"""Positives from two images of one patient or study (``--positives``): pairs only ever join
images of one group, single-image groups pair with themselves, the draw is reproducible per
(seed, epoch) and changes between epochs, both views go through the ops from their own image,
and a run with ``--positives patient`` trains on pairs (planted manifest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from helpers import write_png
from medaug.augment import build_pipeline
from medaug.augment.views import MultiViews, TwoViews, ViewSpec
from medaug.data.config import DataConfig, PrepareConfig
from medaug.data.datasets import DataOptions
from medaug.data.preprocess import PreprocessConfig
from medaug.errors import ConfigError
from medaug.train.data import CacheDataModule, seeded_loader
from medaug.train.positives import PairedImages, grouping, partner_table
from medaug.train.pretrain import run_pretrain
from medaug.train.pretrain_config import PretrainConfig

#: 9 images: patient a has 3, b has 2, c, d, e one each (planted, shuffled order).
GROUPS = np.array(["a", "c", "b", "a", "d", "b", "a", "e", "c2"])


def _images(n: int, size: int = 4) -> np.ndarray:
    """Image ``i`` is the constant ``i`` (its identity can be read back)."""
    return np.repeat(np.arange(n, dtype=np.uint8)[:, None, None], size * size).reshape(
        n, size, size)


def test_partners_are_only_other_images_of_the_same_group() -> None:
    table = partner_table(GROUPS)
    for i, group in enumerate(GROUPS):
        others = set(table.of(i).tolist())
        assert others == {j for j, g in enumerate(GROUPS) if g == group and j != i}
    assert table.paired == 5  # a's three and b's two


def test_pairs_join_one_patient_and_single_images_pair_with_themselves() -> None:
    images = _images(len(GROUPS))
    data = PairedImages(images, np.arange(len(GROUPS)), partner_table(GROUPS), seed=3)
    for epoch in range(6):
        for i, group in enumerate(GROUPS):
            pair = data[(i, epoch)]
            assert pair.shape == (2, 4, 4) and pair.dtype == torch.uint8
            first, second = int(pair[0, 0, 0]), int(pair[1, 0, 0])
            assert first == i
            if (group == GROUPS).sum() == 1:
                assert second == i
            else:
                assert second != i and GROUPS[second] == group


def test_the_draw_is_reproducible_and_changes_between_epochs() -> None:
    data = PairedImages(_images(len(GROUPS)), np.arange(len(GROUPS)), partner_table(GROUPS))
    again = PairedImages(_images(len(GROUPS)), np.arange(len(GROUPS)), partner_table(GROUPS))
    draws = [data.partner(0, epoch) for epoch in range(12)]
    assert draws == [again.partner(0, epoch) for epoch in range(12)]
    assert set(draws) == {3, 6}  # patient a's two other images, both drawn over 12 epochs


def test_the_loader_yields_pairs_of_the_train_rows() -> None:
    images = _images(len(GROUPS))
    rows = np.array([0, 2, 3, 5, 6, 7])  # the train split: a, b, a, b, a, e
    datamodule = CacheDataModule(images, rows, batch_size=3, seed=0,
                                 partners=partner_table(GROUPS[rows]))
    loader = seeded_loader(datamodule.dataset, 3, seed=0)
    batches = list(loader)
    assert [tuple(b.shape) for b in batches] == [(3, 2, 4, 4)] * 2
    for batch in batches:
        for first, second in batch[:, :, 0, 0].tolist():
            assert first in rows and second in rows and GROUPS[first] == GROUPS[second]
            assert (first == second) == (GROUPS[first] == "e")


def test_each_view_is_drawn_from_its_own_image() -> None:
    x = torch.stack([torch.full((5, 8, 8), 0.25), torch.full((5, 8, 8), 0.75)], dim=1)
    first, second = TwoViews(build_pipeline("flip"))(x, torch.Generator().manual_seed(0))
    assert torch.allclose(first, torch.full_like(first, 0.25))
    assert torch.allclose(second, torch.full_like(second, 0.75))
    views = MultiViews([ViewSpec(build_pipeline("flip"), 2),
                        ViewSpec(build_pipeline("flip"), 3, 4)])(x, torch.Generator())
    assert [float(v.mean()) for v in views] == pytest.approx([0.25, 0.75, 0.25, 0.75, 0.25])


def test_an_unknown_choice_or_a_missing_column_is_one_config_error() -> None:
    import pandas as pd

    with pytest.raises(ConfigError, match="positives must be"):
        PretrainConfig(positives="sibling")
    with pytest.raises(ConfigError, match="positives must be"):
        grouping(pd.DataFrame({"patient_id": ["a"]}), "sibling")
    with pytest.raises(ConfigError, match="study_id"):
        grouping(pd.DataFrame({"patient_id": ["a"]}), "study")
    assert grouping(pd.DataFrame({"patient_id": ["a"]}), "image") is None


def test_a_run_with_patient_positives_trains_on_pairs(tmp_path: Path) -> None:
    lines = ["path,label,patient_id,split"]
    for i in range(24):
        write_png(tmp_path / f"i{i}.png", (16, 16), seed=i)
        split = "train" if i < 16 else "test"
        patient = f"p{i // 2}" if i < 12 else f"q{i}"  # 6 patients with 2, the rest alone
        lines.append(f"i{i}.png,{i % 2},{patient},{split}")
    (tmp_path / "list.csv").write_text("\n".join(lines) + "\n")
    data = PrepareConfig(DataConfig(f"csv:{tmp_path / 'list.csv'}", DataOptions(val=0.0)),
                         PreprocessConfig(size=16, clahe=False))
    said: list[str] = []
    seen: list[tuple[int, ...]] = []

    class Shapes(__import__("lightning").Callback):
        def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, i: int) -> None:
            seen.append(tuple(batch.shape))

    config = PretrainConfig(ops="flip", epochs=1, batch_size=8, accelerator="cpu",
                            backbone="resnet18-small", positives="patient",
                            method_args="proj_hidden=32,proj_dim=16")
    result = run_pretrain(data, config, tmp_path / "run", say=said.append,
                          callbacks=[Shapes()])
    assert seen == [(8, 2, 16, 16)] * 2
    assert any("12 of 16 train images have one" in line for line in said)
    assert np.isfinite(result.metrics["loss"].iloc[-1])
