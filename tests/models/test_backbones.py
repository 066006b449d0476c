"""Backbones: shapes, the 1-channel stems, seeded random init, and errors that name the model."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.models.resnet import ResNet

from medaug.errors import ConfigError
from medaug.models.backbones import (
    available_backbones,
    create_backbone,
    feature_dim,
    last_conv_block,
)

EXPECTED_DIM = {"resnet18": 512, "resnet18-small": 512, "resnet50": 2048, "resnet50-small": 2048}
TIMM_MODEL = "resnet10t"  # the smallest ResNet in timm 1.0.x


@pytest.fixture(autouse=True)
def _offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No test here may reach the network or write a weights cache: connecting raises, and the
    torch/HF caches point into an empty folder each test checks afterwards."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    cache = tmp_path / "weights-cache"
    cache.mkdir()
    for var in ("TORCH_HOME", "HF_HOME", "HF_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(cache))
    yield cache
    assert list(cache.iterdir()) == [], "a backbone downloaded or cached weights"


def test_available_backbones_lists_the_four_torchvision_recipes() -> None:
    """The names the CLI offers are exactly the four ResNet variants, sorted."""
    assert available_backbones() == sorted(EXPECTED_DIM)


@pytest.mark.parametrize("name", available_backbones())
def test_torchvision_backbone_maps_images_to_features(name: str) -> None:
    """Each built-in backbone is a torchvision ResNet with a 1-channel conv1 and no classifier,
    mapping ``(2, 1, 32, 32)`` to ``(2, D)`` with D 512 (resnet18) or 2048 (resnet50)."""
    torch.manual_seed(0)
    model = create_backbone(name)
    assert isinstance(model, ResNet)
    assert feature_dim(model) == EXPECTED_DIM[name]
    assert isinstance(model.fc, nn.Identity)
    assert isinstance(model.conv1, nn.Conv2d)
    assert model.conv1.in_channels == 1
    assert model.conv1.out_channels == 64
    assert model.conv1.bias is None
    if name.endswith("-small"):
        assert model.conv1.kernel_size == (3, 3)
        assert model.conv1.stride == (1, 1)
        assert model.conv1.padding == (1, 1)
        assert isinstance(model.maxpool, nn.Identity)
    else:
        assert model.conv1.kernel_size == (7, 7)
        assert model.conv1.stride == (2, 2)
        assert model.conv1.padding == (3, 3)
        assert isinstance(model.maxpool, nn.MaxPool2d)
    with torch.no_grad():
        out = model.eval()(torch.rand(2, 1, 32, 32))
    assert out.shape == (2, EXPECTED_DIM[name])
    assert torch.isfinite(out).all()


def test_small_stem_keeps_a_4x4_map_at_32_px() -> None:
    """The CIFAR stem downsamples 8x (not 32x): a 32 px image reaches layer4 at 4x4."""
    seen: list[torch.Size] = []
    small = create_backbone("resnet18-small").eval()
    small.layer4.register_forward_hook(lambda _m, _i, out: seen.append(out.shape))
    plain = create_backbone("resnet18").eval()
    plain.layer4.register_forward_hook(lambda _m, _i, out: seen.append(out.shape))
    with torch.no_grad():
        small(torch.rand(2, 1, 32, 32))
        plain(torch.rand(2, 1, 32, 32))
    assert seen == [torch.Size([2, 512, 4, 4]), torch.Size([2, 512, 1, 1])]


def test_in_chans_sets_the_stem_width() -> None:
    """``in_chans`` is honoured for the torchvision stems too."""
    model = create_backbone("resnet18-small", in_chans=3)
    assert model.conv1.in_channels == 3
    with torch.no_grad():
        assert model.eval()(torch.rand(2, 3, 16, 16)).shape == (2, 512)


def test_timm_backbone_has_one_input_channel() -> None:
    """``timm:<name>`` builds a random timm model with a 1-channel stem, no head, and the
    feature width recorded."""
    model = create_backbone(f"timm:{TIMM_MODEL}")
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.in_channels == 1
    assert feature_dim(model) == 512
    assert model.training, "the probe must leave the model in training mode"
    with torch.no_grad():
        out = model.eval()(torch.rand(2, 1, 32, 32))
    assert out.shape == (2, feature_dim(model))


def test_unknown_timm_model_raises_config_error_naming_it() -> None:
    """A timm name timm does not know is a ConfigError whose message names the model."""
    with pytest.raises(ConfigError, match="no_such_net_xyz"):
        create_backbone("timm:no_such_net_xyz")


@pytest.mark.parametrize("name", ["resnet34", "resnet18-tiny", "", "RESNET18", "vit-small"])
def test_unknown_name_raises_config_error_listing_valid_names(name: str) -> None:
    """An unknown backbone is a ConfigError naming it and every valid choice."""
    with pytest.raises(ConfigError) as info:
        create_backbone(name)
    message = str(info.value)
    assert repr(name) in message
    for valid in available_backbones():
        assert valid in message
    assert "timm:" in message


@pytest.mark.parametrize("name", ["resnet18", "resnet18-small", f"timm:{TIMM_MODEL}"])
def test_random_init_follows_torch_seed(name: str) -> None:
    """Weights are random (never pretrained) and drawn from torch's RNG: the same seed gives
    identical weights, another seed gives a different conv1."""
    states = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        states.append(create_backbone(name).state_dict())
    same, other = states[1], states[2]
    assert same.keys() == states[0].keys()
    for key, value in states[0].items():
        assert torch.equal(value, same[key]), key
    conv1 = next(k for k in states[0] if k.endswith("weight") and states[0][k].ndim == 4)
    assert not torch.equal(states[0][conv1], other[conv1])


def test_last_conv_block_of_a_resnet_is_the_last_layer4_block() -> None:
    """Grad-CAM's target for a torchvision ResNet is ``layer4[-1]`` (a block, not a conv)."""
    for name in ("resnet18", "resnet50-small"):
        model = create_backbone(name)
        assert last_conv_block(model) is model.layer4[-1]


def test_last_conv_block_of_other_modules() -> None:
    """Outside torchvision's ResNet the last Conv2d is returned; no conv is a ConfigError."""
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 8, 3), nn.Flatten())
    assert last_conv_block(net) is net[2]
    with pytest.raises(ConfigError, match="Linear"):
        last_conv_block(nn.Linear(3, 2))


def test_feature_dim_of_a_foreign_module_is_a_config_error() -> None:
    """A module that records no width is a ConfigError naming its type."""
    with pytest.raises(ConfigError, match="Sequential"):
        feature_dim(nn.Sequential(nn.Conv2d(1, 2, 3)))
