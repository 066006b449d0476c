from __future__ import annotations

import pytest

from medaug.augment import available_ops, build_ops, create_op, parse_spec, register_op
from medaug.augment.base import Op
from medaug.augment.registry import op_parameters, parse_value
from medaug.errors import AugmentError

EXPECTED_OPS = ["blur", "chessboard", "crop", "erase", "flip", "intensity", "rotate"]


def test_available_ops_lists_every_op_file() -> None:
    assert available_ops() == EXPECTED_OPS


def test_spec_with_plain_names() -> None:
    assert parse_spec("rotate+flip+chessboard") == [
        ("rotate", {}), ("flip", {}), ("chessboard", {})]
    assert [op.name for op in build_ops("rotate+flip+chessboard")] == [
        "rotate", "flip", "chessboard"]


def test_spec_with_parameters_and_ranges() -> None:
    assert parse_spec("blur(sigma=0.1-0.6,p=0.5)") == [("blur", {"sigma": (0.1, 0.6), "p": 0.5})]
    (op,) = build_ops("blur(sigma=0.1-0.6,p=0.5)")
    assert op.sigma == (0.1, 0.6)
    assert op.p == 0.5


def test_spec_spaces_booleans_and_ints() -> None:
    items = parse_spec(" crop(scale=0.5-1.0) + flip(vertical=true, horizontal=false)"
                       " + chessboard(cell=16) ")
    assert items == [("crop", {"scale": (0.5, 1.0)}),
                     ("flip", {"vertical": True, "horizontal": False}),
                     ("chessboard", {"cell": 16})]


@pytest.mark.parametrize(("text", "value"), [
    ("-5--1", (-5, -1)), ("-5-5", (-5, 5)), ("-2.5", -2.5), ("1e-3", 0.001),
    ("0.1-0.6", (0.1, 0.6)), ("FALSE", False), ("3", 3)])
def test_parse_value(text: str, value: object) -> None:
    assert parse_value(text) == value


def test_negative_range_builds_op() -> None:
    (op,) = build_ops("rotate(degrees=-5--1)")
    assert op.degrees == (-5.0, -1.0)


def test_unknown_op_lists_valid_ops() -> None:
    with pytest.raises(AugmentError, match="unknown augmentation op 'twirl'") as info:
        build_ops("rotate+twirl")
    for name in EXPECTED_OPS:
        assert name in str(info.value)


def test_unknown_parameter_lists_valid_parameters() -> None:
    with pytest.raises(AugmentError, match="no parameter 'sigmaa'") as info:
        create_op("blur", sigmaa=1.0)
    for name in op_parameters("blur"):
        assert name in str(info.value)
    assert op_parameters("blur") == ["sigma", "kernel_size", "p"]


@pytest.mark.parametrize("spec", ["", "  ", "rotate+", "rotate(p=0.5", "blur(sigma)",
                                  "blur(sigma=abc)", "9rotate"])
def test_malformed_specs_raise(spec: str) -> None:
    with pytest.raises(AugmentError):
        build_ops(spec)


def test_duplicate_registration_raises() -> None:
    class Again(Op):
        pass

    with pytest.raises(AugmentError, match="already registered"):
        register_op("flip")(Again)
    assert type(create_op("flip")).__name__ == "Flip"


def test_every_op_has_p_and_keeps_its_name() -> None:
    for name in available_ops():
        assert "p" in op_parameters(name)
        assert create_op(name).name == name
