"""The shared real sets decode completely and land in the cache as expected (integration)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medaug.data.cache import build_cache
from medaug.data.datasets import load_dataset
from medaug.data.preprocess import PreprocessConfig


@pytest.mark.parametrize(("spec", "n"), [("knee", 1356), ("chest-fullres", 120)])
def test_real_sets_decode_without_rejections(shared_data: Path, tmp_path: Path, spec: str,
                                             n: int) -> None:
    cache = build_cache(load_dataset(spec), PreprocessConfig(size=32), root=tmp_path,
                        progress=False)
    assert len(cache) == n and len(cache.rejected) == 0
    assert cache.images.shape == (n, 32, 32) and cache.images.dtype == np.uint8
    # real radiographs, not blank tiles: every image has contrast
    per_image_std = cache.images.reshape(n, -1).std(axis=1)
    assert per_image_std.min() > 5


def test_fullres_keeps_aspect_ratio_with_padding(shared_data: Path, tmp_path: Path) -> None:
    """The full-resolution chest films are wider than tall: resized, their top and bottom rows
    are the zero padding, their middle row is image."""
    cache = build_cache(load_dataset("chest-fullres"), PreprocessConfig(size=64, clahe=False),
                        root=tmp_path, progress=False)
    images = cache.images.astype(np.int64)
    assert (images[:, 0, :].sum(axis=1) == 0).mean() > 0.9
    assert (images[:, 32, :].sum(axis=1) > 0).all()


def test_clahe_variant_lives_beside_and_differs(shared_data: Path, tmp_path: Path) -> None:
    manifest = load_dataset("knee")
    on = build_cache(manifest, PreprocessConfig(size=32), root=tmp_path, progress=False)
    off = build_cache(manifest, PreprocessConfig(size=32, clahe=False), root=tmp_path,
                      progress=False)
    assert on.root != off.root and on.root.exists() and off.root.exists()
    assert not np.array_equal(np.asarray(on.images), np.asarray(off.images))
