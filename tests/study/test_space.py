"""The study's space: presets, explicit combinations, variants, base ops, factors, keys."""

from __future__ import annotations

import pytest

from medaug.errors import ConfigError
from medaug.study.space import (
    SEED_OPS,
    build_space,
    parse_factor,
    parse_ops,
    preset_combos,
    split_list,
)


def test_split_list_keeps_commas_inside_parentheses() -> None:
    assert split_list("crop, blur(sigma=0.1-2,p=0.5),flip") == [
        "crop", "blur(sigma=0.1-2,p=0.5)", "flip"]


@pytest.mark.parametrize(("preset", "n_ops", "expected"), [
    ("pairs", 4, 4 + 6), ("pairs", 7, 7 + 21), ("full", 3, 7), ("full", 5, 31)])
def test_preset_sizes(preset: str, n_ops: int, expected: int) -> None:
    ops = parse_ops(["crop", "rotate", "flip", "blur", "chessboard", "erase", "intensity"][:n_ops])
    assert len(preset_combos(preset, ops)) == expected


def test_seed_preset_is_the_original_studys_five_ops_in_every_combination() -> None:
    space = build_space(["simclr"], preset="seed")
    assert len(space.combos) == 31
    assert [o.spec for o in space.ops] == list(SEED_OPS)
    everything = max(space.combos, key=lambda c: len(c.ops))
    assert everything.short == "blur+rotate+flip+chessboard+erase"
    assert "kernel_size=3" in everything.spec and "p=0.3" in everything.spec


def test_variants_of_one_op_are_alternatives_never_combined() -> None:
    space = build_space(["simclr"], ["blur(sigma=0.1-2)", "blur(sigma=0.1-6)", "flip"],
                        preset="full")
    shorts = {c.short for c in space.combos}
    assert {"blur.1", "blur.2", "flip", "blur.1+flip", "blur.2+flip"} == shorts
    assert not any("blur.1" in s and "blur.2" in s for s in shorts)


def test_base_ops_come_first_and_may_not_repeat() -> None:
    space = build_space(["simclr"], ["flip", "blur"], base="crop")
    assert [c.spec for c in space.combos] == ["crop+flip", "crop+blur", "crop+flip+blur"]
    with pytest.raises(ConfigError, match="'crop' is in --base"):
        build_space(["simclr"], ["crop", "flip"], base="crop")


def test_explicit_combos_by_name_and_spec() -> None:
    space = build_space(["byol"], ["blur(sigma=1-2)"], combos="flip+blur,rotate(degrees=5)")
    assert [c.short for c in space.combos] == ["flip+blur", "rotate"]
    assert space.combos[0].spec == "flip+blur(sigma=1-2)"
    with pytest.raises(ConfigError, match="holds one op twice"):
        build_space(["byol"], combos="flip+flip(p=1)")


def test_points_cross_methods_levels_and_seeds_with_unique_keys() -> None:
    space = build_space(["simclr", "byol"], ["flip", "blur"], factors=["clahe=on,off"],
                        seeds=3)
    points = space.points()
    assert len(points) == 2 * 3 * 2 * 3
    assert len({p.key for p in points}) == len(points)
    assert points[0].seed == 0 and points[-1].seed == 2  # seed-major
    strong = build_space(["simclr"], ["blur(sigma=0.1-6)"]).points()[0]
    mild = build_space(["simclr"], ["blur(sigma=0.1-2)"]).points()[0]
    assert strong.combo.short == mild.combo.short and strong.key != mild.key


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"methods": []}, "at least one method"),
    ({"methods": ["nope"]}, "unknown method 'nope'"),
    ({"methods": ["simclr"]}, "needs --ops"),
    ({"methods": ["simclr"], "ops": ["crop+flip"]}, "single ops"),
    ({"methods": ["simclr"], "ops": ["wobble"]}, "wobble"),
    ({"methods": ["simclr"], "ops": ["flip", "flip"]}, "given twice"),
    ({"methods": ["simclr"], "ops": ["flip"], "preset": "most"}, "unknown preset"),
    ({"methods": ["simclr"], "ops": ["flip"], "seeds": 0}, "at least 1"),
])
def test_bad_spaces_are_one_line_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        build_space(**kwargs)
    assert "\n" not in str(info.value)


def test_parse_factor() -> None:
    assert parse_factor("clahe=on,off") == ("clahe", ("on", "off"))
    for bad in ("clahe", "clahe=", "=on", "lr=1,1"):
        with pytest.raises(ConfigError):
            parse_factor(bad)
