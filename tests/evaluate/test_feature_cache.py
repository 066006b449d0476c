"""The disk cache of frozen features: extracted once per encoder and data, then read back
without running the backbone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from medaug.evaluate.features import cached_features, extract_features
from medaug.paths import CACHE_ENV

WEIGHTS = "a" * 64
DATA = "d" * 64


class Counting(nn.Module):
    """A tiny backbone ``(B, 1, S, S) -> (B, 6)`` that counts its forward calls."""

    feature_dim = 6

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(1, 3, 3)
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        y = self.conv(x)
        return torch.cat([y.mean(dim=(2, 3)), y.amax(dim=(2, 3))], dim=1)


def _images(n: int = 10, size: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size), dtype=np.uint8)


def _files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "features").iterdir())


def test_first_call_extracts_and_stores_every_row(tmp_path: Path) -> None:
    images = _images()
    backbone = Counting()
    feats, reused = cached_features(backbone, WEIGHTS, images, DATA, batch_size=4, root=tmp_path)
    assert reused is False
    assert backbone.calls == 3  # 10 rows in batches of 4
    assert isinstance(feats, np.ndarray)
    assert feats.shape == (10, 6) and feats.dtype == np.float32
    want = extract_features(Counting(), images, np.arange(len(images))).numpy()
    np.testing.assert_array_equal(feats, want)
    files = _files(tmp_path)
    assert len(files) == 1 and files[0].endswith(".npy")  # no temporary file left behind
    np.testing.assert_array_equal(np.load(tmp_path / "features" / files[0]), feats)


def test_second_call_reads_from_disk_without_the_backbone(tmp_path: Path) -> None:
    images = _images()
    first, _ = cached_features(Counting(), WEIGHTS, images, DATA, root=tmp_path)
    # another module under the same key: the stored features come back, it never runs
    other = Counting(seed=1)
    again, reused = cached_features(other, WEIGHTS, images, DATA, root=tmp_path)
    assert reused is True
    assert other.calls == 0
    np.testing.assert_array_equal(again, first)
    assert again.dtype == np.float32 and again.shape == (10, 6)
    assert len(_files(tmp_path)) == 1


@pytest.mark.parametrize("changed", ["weights", "data"])
def test_another_encoder_or_dataset_extracts_again(tmp_path: Path, changed: str) -> None:
    images = _images()
    cached_features(Counting(), WEIGHTS, images, DATA, root=tmp_path)
    other = Counting(seed=1)
    weights, data = ("b" * 64, DATA) if changed == "weights" else (WEIGHTS, "e" * 64)
    feats, reused = cached_features(other, weights, images, data, root=tmp_path)
    assert reused is False
    assert other.calls == 1
    np.testing.assert_array_equal(
        feats, extract_features(Counting(seed=1), images, np.arange(10)).numpy())
    assert len(_files(tmp_path)) == 2
    # both entries stay usable
    for w, d, seed in ((WEIGHTS, DATA, 0), (weights, data, 1)):
        probe = Counting(seed=7)
        back, hit = cached_features(probe, w, images, d, root=tmp_path)
        assert hit and probe.calls == 0
        np.testing.assert_array_equal(
            back, extract_features(Counting(seed=seed), images, np.arange(10)).numpy())


def test_other_image_size_or_row_count_is_not_reused(tmp_path: Path) -> None:
    cached_features(Counting(), WEIGHTS, _images(size=16), DATA, root=tmp_path)
    bigger = Counting()
    feats, reused = cached_features(bigger, WEIGHTS, _images(size=20), DATA, root=tmp_path)
    assert reused is False and bigger.calls == 1 and feats.shape == (10, 6)
    assert len(_files(tmp_path)) == 2

    fewer = Counting()
    feats, reused = cached_features(fewer, WEIGHTS, _images(n=7), DATA, root=tmp_path)
    assert reused is False and fewer.calls == 1
    np.testing.assert_array_equal(
        feats, extract_features(Counting(), _images(n=7), np.arange(7)).numpy())


def test_backbone_mode_is_restored(tmp_path: Path) -> None:
    backbone = Counting().train()
    cached_features(backbone, WEIGHTS, _images(), DATA, root=tmp_path)
    assert backbone.training


def test_default_root_is_the_cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    feats, reused = cached_features(Counting(), WEIGHTS, _images(), DATA)
    assert reused is False
    assert len(_files(tmp_path / "cache")) == 1
    again, reused = cached_features(Counting(seed=3), WEIGHTS, _images(), DATA)
    assert reused is True
    np.testing.assert_array_equal(again, feats)
