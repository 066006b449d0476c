"""Multi-crop (Caron et al. 2020, 2021): global views at the image size plus local views at a
smaller one, as MultiViews and as ``PretrainConfig.local_crops`` through ``build_method``."""

from __future__ import annotations

import pytest
import torch
from aug_helpers import gen, noise

from medaug.augment import TwoViews, build_pipeline
from medaug.augment.crop import Crop
from medaug.augment.views import MultiViews, ViewSpec
from medaug.errors import ConfigError
from medaug.train.pretrain import build_method
from medaug.train.pretrain_config import PretrainConfig


def _config(**kwargs: object) -> PretrainConfig:
    base: dict[str, object] = {"method": "simclr", "ops": "crop+flip",
                               "backbone": "resnet18-small", "batch_size": 8}
    return PretrainConfig(**{**base, **kwargs})  # type: ignore[arg-type]


def test_multiviews_yield_global_and_local_sizes() -> None:
    pipe = build_pipeline("crop+flip")
    views = MultiViews([ViewSpec(pipe, 2), ViewSpec(pipe, 3, 7)])(noise(4, 16), gen())
    assert [tuple(v.shape) for v in views] == [(4, 1, 16, 16)] * 2 + [(4, 1, 7, 7)] * 3


def test_build_method_adds_local_crops() -> None:
    m = build_method(_config(local_crops=2, local_size=8), world=1)
    views = m.make_views(torch.randint(0, 256, (8, 16, 16), dtype=torch.uint8))
    assert [tuple(v.shape) for v in views] == [(8, 1, 16, 16)] * 2 + [(8, 1, 8, 8)] * 2
    local = m.views.pipelines[-1]
    crops = [op for op in local.ops if isinstance(op, Crop)]
    assert len(crops) == 1 and crops[0].scale == (0.05, 0.4)
    assert [op.name for op in local.ops] == ["crop", "flip"]


def test_local_size_defaults_to_three_sevenths_of_the_image() -> None:
    m = build_method(_config(local_crops=3), world=1, image_size=28)
    views = m.make_views(torch.randint(0, 256, (8, 28, 28), dtype=torch.uint8))
    assert [v.shape[-1] for v in views] == [28, 28, 12, 12, 12]


def test_local_crops_without_a_size_is_an_error() -> None:
    with pytest.raises(ConfigError, match="local_size"):
        build_method(_config(local_crops=2), world=1)


def test_a_spec_without_crop_gets_one_for_the_local_views() -> None:
    m = build_method(_config(ops="flip", local_crops=1, local_size=8), world=1)
    local = m.views.pipelines[-1]
    assert [op.name for op in local.ops] == ["crop", "flip"]
    assert local.ops[0].scale == (0.05, 0.4)
    assert [op.name for op in m.views.pipelines[0].ops] == ["flip"]


def test_ops2_drives_the_second_global_view() -> None:
    m = build_method(_config(ops2="erase(p=1)", local_crops=1, local_size=8), world=1)
    assert [p.spec for p in m.views.pipelines] == ["crop+flip", "erase(p=1)",
                                                    "local: crop+flip"]


def test_no_local_crops_keeps_two_views() -> None:
    m = build_method(_config(), world=1)
    assert type(m.views) is TwoViews and len(m.views) == 2
    assert m.views.pipeline.spec == "crop+flip" and m.views.second is None


def test_bad_local_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="local_crops"):
        _config(local_crops=-1)
    with pytest.raises(ConfigError, match="local_size"):
        _config(local_size=0)
