"""A method's settings are its constructor's arguments: parsed from ``key=value`` text or a
mapping against the signature, and passed through by ``build_method`` with the defaults of
before."""

from __future__ import annotations

import pytest

from medaug.errors import ConfigError
from medaug.methods.args import format_args, method_parameters, parse_method_args
from medaug.train.pretrain import build_method
from medaug.train.pretrain_config import PretrainConfig


def test_settings_are_the_constructor_arguments_less_the_base_ones() -> None:
    assert list(method_parameters("simclr")) == ["temperature", "proj_hidden", "proj_dim"]
    assert list(method_parameters("byol")) == ["proj_hidden", "proj_dim", "momentum_base"]


def test_values_are_converted_by_the_annotations() -> None:
    got = parse_method_args("simclr", " temperature=0.5 , proj_dim=64,proj_hidden=none")
    assert got == {"temperature": 0.5, "proj_dim": 64, "proj_hidden": None}
    assert isinstance(got["temperature"], float) and isinstance(got["proj_dim"], int)
    assert parse_method_args("byol", {"momentum_base": 1}) == {"momentum_base": 1.0}
    assert parse_method_args("byol", "") == {}
    with pytest.raises(ConfigError, match=r"method_args\.proj_dim"):
        parse_method_args("simclr", "proj_dim=1.5")


def test_an_unknown_key_is_one_line_listing_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        parse_method_args("simclr", "momentum_base=0.9", source="--method-args")
    assert str(info.value) == ("--method-args: pretrain.method_args: simclr has no argument "
                               "'momentum_base'; valid: temperature, proj_hidden, proj_dim")
    with pytest.raises(ConfigError, match="twice"):
        parse_method_args("simclr", "temperature=0.1,temperature=0.2")
    with pytest.raises(ConfigError, match="unknown method 'nope'"):
        parse_method_args("nope", "a=1")


def test_format_args_round_trips() -> None:
    values = {"temperature": 0.5, "proj_hidden": None, "proj_dim": 64}
    assert format_args(values) == "temperature=0.5,proj_hidden=none,proj_dim=64"
    assert parse_method_args("simclr", format_args(values)) == values


def test_build_method_passes_method_args_and_keeps_the_defaults() -> None:
    simclr = build_method(PretrainConfig(backbone="resnet18-small"), world=1)
    assert simclr.criterion.temperature == 0.2
    assert simclr.projection.layers[0].out_features == simclr.feature_dim
    assert not simclr.criterion.gather_distributed
    tuned = build_method(PretrainConfig(backbone="resnet18-small",
                                        method_args="temperature=0.5,proj_dim=64"), world=2)
    assert tuned.criterion.temperature == 0.5 and tuned.criterion.gather_distributed
    byol = build_method(PretrainConfig(method="byol", backbone="resnet18-small"), world=2)
    assert byol.momentum_base == 0.99
    assert byol.projection.layers[0].out_features == 4096
    with pytest.raises(ConfigError, match="valid: proj_hidden, proj_dim, momentum_base"):
        build_method(PretrainConfig(method="byol", method_args="temperature=0.5"), world=1)
