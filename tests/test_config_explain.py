"""The ``explain:`` section of a config file: read into :class:`ExplainConfig` (lists or comma
text, ``class_weight: none``), unknown keys and bad values named with the file, the command
line's defaults equal to the section's, and a config file driving ``medaug explain`` with the
options given on the command line winning over it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from helpers import tiny_npz
from medaug.cli import app
from medaug.cli import explain as cli
from medaug.data.config import prepare_from_dict
from medaug.errors import ConfigError
from medaug.explain.config import explain_from_dict
from medaug.explain.run import IMAGES_FILE, RECORD_FILE, ExplainConfig


def test_an_empty_or_missing_section_is_the_defaults() -> None:
    assert explain_from_dict({}) == ExplainConfig()
    assert explain_from_dict({"explain": None}) == ExplainConfig()
    assert explain_from_dict({"explain": {}}) == ExplainConfig()


def test_values_are_read_and_converted() -> None:
    raw = {"explain": {"method": "gradcam++", "target": "predicted", "layer": "layer3",
                       "images": 5, "paths": "KL4/a.png, KL0/b.png", "percentiles": "25,75",
                       "class_weight": "none", "threshold": "0.4", "faithfulness_images": 0,
                       "bootstrap": 200, "seed": 7, "batch_size": 4, "device": "cpu"}}
    config = explain_from_dict(raw, "c.yaml")
    assert config == ExplainConfig(images=5, paths=("KL4/a.png", "KL0/b.png"),
                                   method="gradcam++", target="predicted", layer="layer3",
                                   faithfulness_images=0, percentiles=(25, 75),
                                   threshold="0.4", class_weight=None, bootstrap=200, seed=7,
                                   batch_size=4, device="cpu")


def test_lists_are_read_as_tuples() -> None:
    config = explain_from_dict({"explain": {"paths": ["x/1.png", "y/2.png"],
                                            "percentiles": [10, 90],
                                            "class_weight": "balanced"}})
    assert config.paths == ("x/1.png", "y/2.png")
    assert config.percentiles == (10, 90)
    assert config.class_weight == "balanced"
    assert explain_from_dict({"explain": {"paths": None}}).paths == ()
    assert explain_from_dict({"explain": {"class_weight": "None"}}).class_weight is None


def test_an_explain_section_is_a_valid_section_of_a_config_file() -> None:
    raw = {"data": {"dataset": "medmnist:x.npz"}, "explain": {"method": "eigencam"}}
    assert prepare_from_dict(raw, "c.yaml").data.dataset == "medmnist:x.npz"
    assert explain_from_dict(raw, "c.yaml").method == "eigencam"


def test_an_unknown_key_is_named_with_the_file() -> None:
    with pytest.raises(ConfigError, match=r"c\.yaml.*'explain'.*'nope'.*valid: .*method"):
        explain_from_dict({"explain": {"method": "gradcam", "nope": 1}}, "c.yaml")


@pytest.mark.parametrize(("section", "named"), [
    ({"method": "lime"}, "method"),
    ({"target": "normal"}, "target"),
    ({"faithfulness_images": -1}, "faithfulness_images"),
    ({"threshold": "bogus"}, "threshold"),
    ({"percentiles": "0,50"}, "percentiles"),
    ({"percentiles": "a,b"}, "percentiles"),
    ({"class_weight": "heavy"}, "class_weight"),
    ({"bootstrap": 10}, "bootstrap"),
])
def test_bad_values_are_named_with_the_file(section: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=rf"c\.yaml.*{named}"):
        explain_from_dict({"explain": section}, "c.yaml")


def test_command_line_defaults_equal_the_sections_defaults() -> None:
    """With a run folder or a config file as the base, options not given take the section's
    defaults: they must be the command line's own."""
    command = typer.main.get_command(app).commands["explain"]  # type: ignore[attr-defined]
    params = {p.name: p.default for p in command.params}
    section: dict[str, Any] = {}
    for option, (name, key) in cli.KEYS.items():
        if name == "explain":
            section[key] = params[option]
    for key in ("images", "method", "target", "layer", "faithfulness_images", "threshold",
                "bootstrap", "batch_size", "device", "seed", "class_weight", "paths"):
        assert key in section, key
    assert explain_from_dict({"explain": section}) == ExplainConfig()
    assert explain_from_dict({}) == ExplainConfig()


def test_a_config_file_drives_explain_and_options_override_it(tmp_path: Path) -> None:
    npz = tiny_npz(tmp_path / "tiny.npz", n_train=16, n_val=8, n_test=8, size=16)
    config = tmp_path / "c.yaml"
    config.write_text(f"data:\n  dataset: medmnist:{npz}\npreprocess:\n  size: 16\n"
                      "  clahe: false\nexplain:\n  images: 2\n  method: eigencam\n"
                      "  faithfulness_images: 0\n  percentiles: [25, 75]\n  bootstrap: 100\n"
                      "  device: cpu\n  seed: 3\n")
    out = tmp_path / "explain"
    result = CliRunner().invoke(app, ["explain", "--config", str(config), "--runs",
                                      "random:resnet18-small@0", "--images", "3", "--out",
                                      str(out)])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / RECORD_FILE).read_text())["config"]
    assert saved["explain"]["images"] == 3  # the option wins
    assert saved["explain"]["method"] == "eigencam"  # from the file
    assert saved["explain"]["percentiles"] == [25, 75] and saved["explain"]["seed"] == 3
    assert saved["explain"]["faithfulness_images"] == 0
    assert saved["data"]["dataset"] == f"medmnist:{npz}"
    assert saved["preprocess"]["size"] == 16 and saved["preprocess"]["clahe"] is False
    assert "wrote" in result.output
    images = pd.read_csv(out / IMAGES_FILE)
    assert len(images) == 3 and set(images["split"]) == {"test"}  # one model, three images
