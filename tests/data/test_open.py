"""open_dataset: the one call from a dataset spec (or a whole data configuration) to its
cache, with the same arguments build_cache(load_dataset(...)) got."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cache_trees import make_tree, value_of

from medaug.data.config import DataConfig, PrepareConfig, prepare_to_dict
from medaug.data.datasets import DataOptions, load_dataset
from medaug.data.open import open_dataset
from medaug.data.preprocess import PreprocessConfig
from medaug.errors import DataError

SMALL = PreprocessConfig(size=8, clahe=False)
OPTIONS = DataOptions(val=0.2, test=0.2, seed=3)


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MEDAUG_CACHE_DIR", str(tmp_path / "cache"))
    return f"folder:{make_tree(tmp_path / 'tree', n_per_class=5)}"


def test_open_dataset_from_spec_options_and_preprocess(spec: str, tmp_path: Path) -> None:
    cache = open_dataset(spec, OPTIONS, SMALL, workers=1)
    assert cache.root.parent == tmp_path / "cache"
    assert cache.config == SMALL
    expected = load_dataset(spec, OPTIONS)
    assert cache.manifest.frame["split"].tolist() == expected.frame["split"].tolist()
    for i, path in enumerate(cache.manifest.frame["path"]):
        assert (cache.images[i] == value_of(path)).all()
    meta = json.loads((cache.root / "meta.json").read_text())
    assert meta["resolved_config"] == prepare_to_dict(PrepareConfig(DataConfig(spec, OPTIONS),
                                                                    SMALL))
    assert open_dataset(spec, OPTIONS, SMALL).reused


def test_open_dataset_keeps_the_given_resolved_config(spec: str) -> None:
    resolved = {"data": {"dataset": "as the caller resolved it"}, "preprocess": {}}
    cache = open_dataset(spec, OPTIONS, SMALL, workers=1, resolved=resolved)
    assert json.loads((cache.root / "meta.json").read_text())["resolved_config"] == resolved


def test_open_dataset_defaults(spec: str) -> None:
    cache = open_dataset(spec)
    assert cache.config == PreprocessConfig()
    assert cache.images.shape[1:] == (64, 64)
    again = open_dataset(spec, DataOptions(), PreprocessConfig())
    assert again.reused and again.root == cache.root


def test_open_dataset_accepts_a_prepare_config(spec: str) -> None:
    config = PrepareConfig(DataConfig(spec, OPTIONS), SMALL)
    cache = open_dataset(config, workers=1)
    assert cache.root == open_dataset(spec, OPTIONS, SMALL).root
    meta = json.loads((cache.root / "meta.json").read_text())
    assert meta["resolved_config"] == prepare_to_dict(config)


def test_open_dataset_refuses_options_beside_a_prepare_config(spec: str) -> None:
    with pytest.raises(DataError, match="PrepareConfig"):
        open_dataset(PrepareConfig(DataConfig(spec)), OPTIONS)


def test_open_dataset_unknown_spec() -> None:
    with pytest.raises(DataError, match="unknown dataset"):
        open_dataset("nonsense", DataOptions(), SMALL)


def test_open_dataset_images_are_a_memory_map(spec: str) -> None:
    assert isinstance(open_dataset(spec, OPTIONS, SMALL).images, np.memmap)
