from __future__ import annotations

from pathlib import Path

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


def test_op_modules_are_found_in_the_folder_without_a_hand_kept_list() -> None:
    """Every non-infrastructure module in the package folder registers at least one op, the
    registered names are exactly the ``@register_op`` names written in those files, and the
    loader names no module."""
    import inspect
    import re
    from pathlib import Path

    import medaug.augment as package
    from medaug.augment import registry

    folder = Path(package.__file__).parent
    files = sorted(p.stem for p in folder.glob("*.py")
                   if p.stem not in registry.INFRASTRUCTURE and not p.stem.startswith("_"))
    assert registry.op_modules() == files
    declared = sorted(name for stem in files for name in
                      re.findall(r'@register_op\("(\w+)"\)', (folder / f"{stem}.py").read_text()))
    assert available_ops() == declared
    modules = {create_op(name).__class__.__module__.rsplit(".", 1)[1] for name in declared}
    assert modules == set(files)
    loader = inspect.getsource(registry._OPS.loader)  # the one package loader
    assert not any(stem in loader for stem in files)


def test_a_new_op_file_is_registered_by_being_in_the_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A module dropped into (a folder on) the package's path is imported and its op found."""
    import sys

    import medaug.augment as package
    from medaug.augment import registry

    (tmp_path / "zz_dropped.py").write_text(
        "from medaug.augment.flip import Flip\n"
        "from medaug.augment.registry import register_op\n\n\n"
        "@register_op('zz_dropped')\n"
        "class Dropped(Flip):\n"
        "    pass\n")
    monkeypatch.setattr(package, "__path__", [*package.__path__, str(tmp_path)])
    monkeypatch.setattr(registry._OPS, "_classes", dict(registry._OPS._classes))
    monkeypatch.delitem(sys.modules, "medaug.augment.zz_dropped", raising=False)
    try:
        assert "zz_dropped" in available_ops()
    finally:
        sys.modules.pop("medaug.augment.zz_dropped", None)
