"""``probe:`` and ``supervised:`` sections of a config file: read into their dataclasses,
unknown keys named, and options given on the command line win over the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import tiny_npz
from medaug.cli import app
from medaug.config import load_raw
from medaug.errors import ConfigError
from medaug.evaluate.probe_config import probe_from_dict
from medaug.train.supervised_config import supervised_from_dict

ROOT = Path(__file__).resolve().parents[1]


def test_the_knee_preset_has_every_section() -> None:
    raw = load_raw(ROOT / "configs" / "knee.yaml")
    probe = probe_from_dict(raw, "knee.yaml")
    assert probe.fractions == (0.01, 0.1, 1.0) and probe.seeds == 3
    assert probe.probes == ("logistic", "knn")
    supervised, fractions, seeds = supervised_from_dict(raw, "knee.yaml")
    assert supervised.epochs == 30 and fractions == (0.01, 0.1, 1.0) and seeds == 3


def test_values_are_converted() -> None:
    raw = {"probe": {"fractions": "1,0.1", "probes": "knn", "class_weight": "none"},
           "supervised": {"fractions": 0.5, "seeds": 2, "class_weight": "balanced",
                          "ops": "none"}}
    probe = probe_from_dict(raw)
    assert probe.fractions == (0.1, 1.0) and probe.probes == ("knn",)
    assert probe.class_weight is None
    supervised, fractions, seeds = supervised_from_dict(raw)
    assert fractions == (0.5,) and seeds == 2 and supervised.class_weight == "balanced"
    assert probe_from_dict({}).seeds == 3  # the same default as the command line's


@pytest.mark.parametrize(("section", "reader"), [("probe", probe_from_dict),
                                                 ("supervised", supervised_from_dict)])
def test_unknown_keys_and_bad_values_name_the_file(section: str, reader: object) -> None:
    with pytest.raises(ConfigError, match=r"c\.yaml.*'nope'.*valid: .*threshold"):
        reader({section: {"nope": 1}}, "c.yaml")  # type: ignore[operator]
    with pytest.raises(ConfigError, match=r"c\.yaml.*fractions"):
        reader({section: {"fractions": [0, 2]}}, "c.yaml")  # type: ignore[operator]


def test_a_config_file_drives_the_probe_and_options_override_it(tmp_path: Path) -> None:
    npz = tiny_npz(tmp_path / "tiny.npz", n_train=32, n_val=16, n_test=16, size=16)
    config = tmp_path / "c.yaml"
    config.write_text(f"data:\n  dataset: medmnist:{npz}\npreprocess:\n  size: 16\n"
                      "  clahe: false\nprobe:\n  fractions: [0.5, 1.0]\n  seeds: 2\n"
                      "  probes: logistic\n  bootstrap: 100\n")
    out = tmp_path / "eval"
    result = CliRunner().invoke(app, ["probe", "--config", str(config), "-e",
                                      "random:resnet18-small@0", "--seeds", "1", "--out",
                                      str(out)])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "evaluation.json").read_text())["config"]
    assert saved["probe"]["fractions"] == [0.5, 1.0]  # from the file
    assert saved["probe"]["seeds"] == 1  # the option wins
    assert saved["probe"]["probes"] == ["logistic"] and saved["preprocess"]["size"] == 16


@pytest.mark.parametrize(("command", "keys", "reader"), [
    ("probe", "PROBE_KEYS", probe_from_dict),
    ("supervised", "SUPERVISED_KEYS", supervised_from_dict)])
def test_command_line_defaults_equal_the_sections_defaults(command: str, keys: str,
                                                           reader: object) -> None:
    """With a run folder or a config file as the base, options not given take the section's
    defaults: they must be the command line's own."""
    import typer

    from medaug.cli import evaluate as cli

    params = {p.name: p.default for p in typer.main.get_command(app).commands[command].params}
    section: dict = {}
    for option, (name, key) in getattr(cli, keys).items():
        if name == command:
            section[key] = params[option]
    assert reader({command: section}) == reader({})  # type: ignore[operator]
