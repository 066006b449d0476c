"""The generic config (medaug.config): values coerced and checked by their field's type with the
key named, YAML aliases and oversized files refused, and each error one line on the command
line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medaug.cli import app
from medaug.config import MAX_CONFIG_BYTES, coerce, from_mapping, load_raw, to_dict
from medaug.data.config import load_config, prepare_from_dict
from medaug.errors import ConfigError
from medaug.train.pretrain_config import pretrain_from_dict

runner = CliRunner()


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "expected"), [
    ('"false"', False), ('"off"', False), ("no", False), ("false", False), ("0", False),
    ('"true"', True), ("on", True), ("yes", True), ("true", True), ("1", True),
])
def test_clahe_text_is_read_as_the_boolean_it_says(tmp_path: Path, text: str,
                                                    expected: bool) -> None:
    """``clahe: "false"`` used to apply CLAHE (a non-empty string is truthy)."""
    config = load_config(_yaml(tmp_path, f"preprocess:\n  clahe: {text}\n"))
    assert config.preprocess.clahe is expected


@pytest.mark.parametrize(("text", "key", "expected"), [
    ("preprocess:\n  size: 28.5\n", "preprocess.size", "whole number"),
    ("preprocess:\n  tile_grid: 8.5\n", "preprocess.tile_grid", "whole number"),
    ("preprocess:\n  clahe: maybe\n", "preprocess.clahe", "true or false"),
    ("preprocess:\n  clip_limit: lots\n", "preprocess.clip_limit", "number"),
    ("preprocess:\n  size: true\n", "preprocess.size", "whole number"),
    ("data:\n  exclude: 5\n", r"data.exclude\[0\]", "text"),
    ("data:\n  dataset: [knee, chest]\n", "data.dataset", "text"),
    ("data:\n  val: [0.1]\n", "data.val", "number"),
    ("data:\n  seed: {a: 1}\n", "data.seed", "whole number"),
])
def test_wrong_types_name_the_file_and_the_key(tmp_path: Path, text: str, key: str,
                                               expected: str) -> None:
    path = _yaml(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"c\.yaml: {key}: expected .*{expected}"):
        load_config(path)


@pytest.mark.parametrize(("text", "key"), [
    ("pretrain:\n  epochs: 1.5\n", "pretrain.epochs"),
    ("pretrain:\n  batch_size: '64x'\n", "pretrain.batch_size"),
    ("pretrain:\n  lr: fast\n", "pretrain.lr"),
    ("pretrain:\n  method: [simclr]\n", "pretrain.method"),
])
def test_pretrain_values_are_checked_by_type(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"c\.yaml: {key}: expected"):
        pretrain_from_dict(load_raw(_yaml(tmp_path, text)), "c.yaml")


def test_integral_numbers_and_numeric_text_are_accepted() -> None:
    config = prepare_from_dict({"preprocess": {"size": 32.0, "clip_limit": 3, "tile_grid": "4"},
                                "data": {"val": "0.2", "exclude": "1, 2"}})
    assert config.preprocess.size == 32 and isinstance(config.preprocess.size, int)
    assert config.preprocess.clip_limit == 3.0 and config.preprocess.tile_grid == 4
    assert config.data.options.val == 0.2 and config.data.options.exclude == ("1", "2")
    assert prepare_from_dict({"data": {"exclude": None}}).data.options.exclude == ()


def test_optional_fields_take_none_and_its_spellings() -> None:
    @dataclass(frozen=True)
    class Section:
        lr: float | None = 0.1
        name: str = "x"
        items: tuple[int, ...] = ()

    assert from_mapping(Section, {"lr": None}).lr is None
    assert from_mapping(Section, {"lr": "none"}).lr is None
    assert from_mapping(Section, {"lr": "0.5", "items": [1, "2", 3.0]}) == Section(0.5, "x",
                                                                                  (1, 2, 3))
    with pytest.raises(ConfigError, match=r"s: sec\.items\[1\]: expected a whole number"):
        from_mapping(Section, {"items": [1, 2.5]}, "s", "sec")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) 'nope'; valid: lr, name, items"):
        from_mapping(Section, {"nope": 1}, "s", "sec")
    assert to_dict(Section(items=(1, 2))) == {"lr": 0.1, "name": "x", "items": [1, 2]}
    with pytest.raises(ConfigError, match="expected text, got int 3"):
        coerce(3, str, "k")


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    """461 bytes of nested aliases used to expand to gigabytes: aliases are refused."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for k in range(1, 9):
        lines.append(f"a{k}: &a{k} [" + ",".join([f"*a{k - 1}"] * 9) + "]")
    path = _yaml(tmp_path, "data:\n  dataset: knee\n" + "\n".join(lines) + "\n")
    assert path.stat().st_size < 1000
    with pytest.raises(ConfigError, match=r"c\.yaml: not valid YAML .*aliases"):
        load_raw(path)


def test_a_single_alias_is_refused_too(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "data: &d\n  dataset: knee\npreprocess: *d\n")
    with pytest.raises(ConfigError, match="aliases"):
        load_raw(path)


def test_an_oversized_file_is_refused(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "# " + "x" * MAX_CONFIG_BYTES + "\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: larger than"):
        load_raw(path)


def test_a_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match=r"c\.yaml: not UTF-8"):
        load_raw(path)


@pytest.mark.parametrize("text", [
    "preprocess:\n  size: 28.5\n", "data:\n  exclude: 5\n", "data: [1, 2]\n",
    "a: &x [1]\nb: *x\n", "preprocess:\n  clahe: maybe\n",
])
def test_the_command_line_prints_one_error_line(tmp_path: Path, text: str) -> None:
    result = runner.invoke(app, ["prepare", "--config", str(_yaml(tmp_path, text))])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "c.yaml" in lines[0]
    assert "Traceback" not in result.output


def test_every_shipped_config_file_loads() -> None:
    """configs/*.yaml parse into the stage configs (a renamed field breaks this test)."""
    from pathlib import Path

    from medaug.config import load_raw
    from medaug.data.config import prepare_from_dict
    from medaug.train.pretrain_config import pretrain_from_dict

    files = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))
    assert files
    for path in files:
        raw = load_raw(path)
        prepare_from_dict(raw, str(path))
        if "pretrain" in raw:
            pretrain_from_dict(raw, str(path))
        if "study" in raw:  # the whole study: space, methods and factors checked
            from medaug.study.config import study_from_dict

            assert study_from_dict(raw, str(path)).options.space().combos
