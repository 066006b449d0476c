"""YAML configuration: sections, defaults, unknown keys, and the CLI's precedence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import write_png
from medaug.cli import app
from medaug.config import load_raw
from medaug.data.config import PrepareConfig, load_config, prepare_from_dict, prepare_to_dict
from medaug.errors import ConfigError
from medaug.train.pretrain_config import PretrainConfig, pretrain_from_dict

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _tree(root: Path) -> Path:
    for label in ("normal", "abnormal"):
        for k in range(4):
            write_png(root / label / f"{label}{k}.png", (20, 20), seed=k)
    return root


def test_defaults_and_round_trip() -> None:
    cfg = prepare_from_dict({})
    assert cfg == PrepareConfig()
    assert prepare_from_dict(prepare_to_dict(cfg)) == cfg
    custom = prepare_from_dict({"data": {"dataset": "knee", "exclude": ["1"], "seed": 3},
                               "preprocess": {"size": 32, "clahe": False}})
    assert custom.data.dataset == "knee" and custom.data.options.exclude == ("1",)
    assert custom.data.options.seed == 3 and custom.preprocess.size == 32
    assert prepare_from_dict(prepare_to_dict(custom)) == custom
    mapped = prepare_from_dict({"data": {"classes": {0: "normal", "2": "abnormal", "3": 1}}})
    assert mapped.data.options.classes == {"0": 0, "2": 1, "3": 1}
    assert prepare_from_dict(prepare_to_dict(mapped)) == mapped
    with pytest.raises(ConfigError, match="classes"):
        prepare_from_dict({"data": {"classes": ["0", "1"]}})
    with pytest.raises(ConfigError, match=r"f\.yaml: data\.classes: .*'sick'"):
        prepare_from_dict({"data": {"classes": {"0": "sick"}}}, source="f.yaml")


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_shipped_presets_load(name: str) -> None:
    cfg = load_config(CONFIGS / name)
    assert cfg.data.dataset and cfg.preprocess.size >= 8
    assert pretrain_from_dict(load_raw(CONFIGS / name)).epochs >= 1


@pytest.mark.parametrize(("text", "match"), [
    ("data:\n  datset: knee\n", r"section 'data': unknown key\(s\) 'datset'; valid: dataset"),
    ("preprocess:\n  sise: 64\n", r"unknown key\(s\) 'sise'; valid: size, clahe"),
    ("training:\n  epochs: 3\n", r"unknown key\(s\) 'training'; valid: data, preprocess, "
     "pretrain"),
    ("preprocess:\n  size: 2\n", "image size must be between 8 and 4096"),
    ("data: [1, 2]\n", "must be a mapping"),
    ("data:\n  dataset: knee\n bad indent", "not valid YAML"),
])
def test_bad_files_name_the_file_and_the_problem(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as exc:
        load_config(path)
    assert str(path) in str(exc.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")


def test_cli_config_then_explicit_options_win(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "tree")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data:\n  dataset: folder:{tree}\n  seed: 5\npreprocess:\n  size: 24\n"
                   "  clahe: false\n")
    runner = CliRunner()
    res = runner.invoke(app, ["prepare", "--config", str(cfg)], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    assert "images of 24x24 px" in res.output
    res2 = runner.invoke(app, ["prepare", "--config", str(cfg), "--size", "16"],
                         env={"COLUMNS": "300"})
    assert res2.exit_code == 0, res2.output
    assert "images of 16x16 px" in res2.output
    folder = Path(res2.output.split("cache ")[1].split(":")[0])
    meta = json.loads((folder / "meta.json").read_text())
    resolved = meta["resolved_config"]
    assert resolved["preprocess"]["size"] == 16  # the option given on the command line
    assert resolved["preprocess"]["clahe"] is False  # from the file
    assert resolved["data"]["seed"] == 5 and resolved["data"]["dataset"] == f"folder:{tree}"


def test_cli_bad_config_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("preprocess:\n  sise: 3\n")
    res = CliRunner().invoke(app, ["prepare", "--config", str(cfg)], env={"COLUMNS": "300"})
    assert res.exit_code == 2
    assert "unknown key(s) 'sise'" in res.output


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"epochs": 0}, "epochs must be at least 1"),
    ({"batch_size": 1}, "batch_size must be at least 2"),
    ({"lr": 0.0}, "lr must be > 0"),
    ({"warmup_epochs": 10}, r"warmup_epochs must be in \[0, epochs=10\)"),
    ({"knn_k": 0}, "knn_k must be at least 1"),
    ({"weight_decay": -1e-4}, "weight_decay must be >= 0"),
])
def test_pretrain_config_rejects_bad_values(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        PretrainConfig(**kwargs)


def test_pretrain_section_errors_name_the_file() -> None:
    with pytest.raises(ConfigError, match=r"k\.yaml: pretrain: epochs must be at least 1"):
        pretrain_from_dict({"pretrain": {"epochs": 0}}, source="k.yaml")
    with pytest.raises(ConfigError, match=r"k\.yaml: section 'pretrain': unknown key\(s\) 'epoch'"):
        pretrain_from_dict({"pretrain": {"epoch": 3}}, source="k.yaml")


def test_pretrain_method_args_as_text_or_mapping() -> None:
    """``pretrain.method_args`` may be the spec text or a mapping (saved as the text); an
    unknown key names the file and lists the method's valid arguments on one line; a value of
    the wrong type names the key."""
    text = pretrain_from_dict({"pretrain": {"method": "simclr",
                                            "method_args": "temperature=0.5,proj_dim=64"}})
    mapped = pretrain_from_dict({"pretrain": {"method": "simclr",
                                              "method_args": {"temperature": 0.5,
                                                              "proj_dim": 64}}})
    assert text.method_args == mapped.method_args == "temperature=0.5,proj_dim=64"
    assert PretrainConfig().method_args == ""
    with pytest.raises(ConfigError) as info:
        pretrain_from_dict({"pretrain": {"method": "simclr", "method_args": "tau=0.5"}},
                           source="k.yaml")
    message = str(info.value)
    assert "\n" not in message
    assert message == ("k.yaml: pretrain.method_args: simclr has no argument 'tau'; valid: "
                       "temperature, proj_hidden, proj_dim")
    with pytest.raises(ConfigError, match=r"k\.yaml: .*method_args\.proj_dim"):
        pretrain_from_dict({"pretrain": {"method_args": "proj_dim=wide"}}, source="k.yaml")
    with pytest.raises(ConfigError, match="key=value"):
        pretrain_from_dict({"pretrain": {"method_args": "temperature"}})


def test_legacy_pretrain_section_folds_into_method_args() -> None:
    """The keys written before ``method_args`` fold into it: only those the saved method
    takes, only where they differ from its default (``None`` was the default)."""
    from medaug.train.pretrain_config import legacy_pretrain_section

    simclr = {"method": "simclr", "epochs": 3, "temperature": 0.2, "momentum_base": 0.99,
              "proj_hidden": None, "proj_dim": 32}
    assert legacy_pretrain_section(simclr) == {"method": "simclr", "epochs": 3,
                                               "method_args": "proj_dim=32"}
    byol = {"method": "byol", "temperature": 0.5, "momentum_base": 0.9, "proj_hidden": 64,
            "proj_dim": None}
    assert legacy_pretrain_section(byol) == {"method": "byol",
                                             "method_args": "momentum_base=0.9,proj_hidden=64"}
    defaults = {"method": "byol", "temperature": 0.2, "momentum_base": 0.99,
                "proj_hidden": None, "proj_dim": None}
    assert legacy_pretrain_section(defaults) == {"method": "byol", "method_args": ""}
    new = {"method": "simclr", "method_args": "temperature=0.3"}
    assert legacy_pretrain_section(new) == new


def test_an_old_run_record_still_resumes_at_pretrain_from_dict(tmp_path: Path) -> None:
    """A ``run.json`` written before ``method_args`` (legacy keys in its pretrain section)
    reads back as the config the run had: the same method arguments, built into the same
    method."""
    from medaug.train.pretrain import build_method

    old = {"pretrain": {"method": "simclr", "ops": "flip", "backbone": "resnet18-small",
                        "epochs": 2, "batch_size": 8, "temperature": 0.5,
                        "momentum_base": 0.99, "proj_hidden": 64, "proj_dim": None}}
    (tmp_path / "run.json").write_text(json.dumps({"status": "interrupted", "config": old}))
    config = pretrain_from_dict(json.loads((tmp_path / "run.json").read_text())["config"],
                                source=str(tmp_path / "run.json"))
    assert config.method_args == "temperature=0.5,proj_hidden=64"
    assert config == PretrainConfig(method="simclr", ops="flip", backbone="resnet18-small",
                                    epochs=2, batch_size=8,
                                    method_args="temperature=0.5,proj_hidden=64")
    method = build_method(config, world=1)
    assert method.criterion.temperature == 0.5
    assert method.projection.layers[0].out_features == 64
