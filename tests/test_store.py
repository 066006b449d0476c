"""The exported encoder: files on disk, round trip through medaug, and loading into plain
torchvision with the README's snippet and the recipe recorded in ``encoder.json``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from medaug.errors import TrainingError
from medaug.models.backbones import create_backbone
from medaug.store import ENCODER_FILE, ENCODER_INFO, export_encoder, load_encoder

README = Path(__file__).resolve().parents[1] / "README.md"
HEADING = "### Load the encoder outside medaug"
README_WEIGHTS = "runs/knee-simclr/encoder.pt"
README_INPUT = "torch.rand(4, 1, 64, 64)"


def _export(name: str, folder: Path, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    backbone = create_backbone(name)
    export_encoder(backbone, folder, name, image_size=32)
    return backbone.eval()


def _features(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return module.eval()(x)


def _readme_snippet() -> str:
    """The first ```python block after the heading (the test fails if it is gone)."""
    text = README.read_text()
    assert HEADING in text, f"README lost its {HEADING!r} section"
    section = text.split(HEADING, 1)[1]
    match = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert match, "no python block after the heading"
    return match.group(1)


def _readme_small_snippet() -> str:
    """The snippet with the README's one-sentence change for ``resnet18-small`` applied."""
    snippet = _readme_snippet()
    section = README.read_text().split(HEADING, 1)[1].split("\n### ", 1)[0]
    prose = re.search(r"resnet18-small` use `(torch\.nn\.Conv2d\(.*?\))` and\s+`(.*?)`", section)
    assert prose, "README lost its resnet18-small sentence"
    conv, maxpool = prose.groups()
    conv_line = re.search(r"^m\.conv1 = .*$", snippet, flags=re.MULTILINE)
    assert conv_line, "the snippet has no `m.conv1 = ...` line"
    return snippet.replace(conv_line.group(0), f"m.conv1 = {conv}\n{maxpool}")


def _run_plain(codes: dict[str, str], folder: Path) -> dict[str, torch.Tensor | str]:
    """Run each code in a fresh namespace of one new interpreter that never imports medaug,
    with ``INPUT`` (the path of ``folder/<key>.in.pt``) bound; return each code's ``features``,
    or the traceback it raised."""
    cases = [(key, code, str(folder / f"{key}.in.pt"), str(folder / f"{key}.out.pt"))
             for key, code in codes.items()]
    program = (
        "import sys, traceback\nimport torch as _torch\n"
        f"for key, code, inp, out in {cases!r}:\n"
        "    env = {'INPUT': inp}\n"
        "    try:\n"
        "        exec(code, env)\n"
        "        _torch.save(env['features'].detach(), out)\n"
        "    except Exception:\n"
        "        open(out + '.err', 'w').write(traceback.format_exc())\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'medaug'], 'medaug imported'\n")
    result = subprocess.run([sys.executable, "-c", program], cwd=folder, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return {key: torch.load(out, weights_only=True) if Path(out).is_file()
            else Path(out + ".err").read_text() for key, _, _, out in cases}


@pytest.fixture(scope="module")
def plain_runs(tmp_path_factory: pytest.TempPathFactory
               ) -> dict[str, tuple[torch.Tensor | str, torch.Tensor]]:
    """Encoders exported by medaug, loaded back by plain-torchvision code in one subprocess
    (the torch import is paid once): key -> (plain features or traceback, medaug features).

    * ``readme``: the README snippet verbatim, with the weights path and input swapped in;
    * ``readme-small``: the same with the README's resnet18-small sentence applied;
    * ``recipe:<name>``: the ``torchvision`` recipe recorded in ``encoder.json``."""
    folder = tmp_path_factory.mktemp("plain")
    snippet = _readme_snippet()
    assert "medaug" not in snippet
    assert README_WEIGHTS in snippet and README_INPUT in snippet
    cases = {"readme": ("resnet18", snippet, (4, 1, 64, 64)),
             "readme-small": ("resnet18-small", _readme_small_snippet(), (4, 1, 16, 16))}
    for name in ("resnet18", "resnet18-small"):
        cases[f"recipe:{name}"] = (name, "", (3, 1, 16, 16))
    codes, expected = {}, {}
    for seed, (key, (name, code, shape)) in enumerate(cases.items()):
        run = folder / key.replace(":", "-")
        backbone = _export(name, run, seed=seed)
        weights = str(run / ENCODER_FILE)
        if key.startswith("recipe:"):
            recipe = json.loads((run / ENCODER_INFO).read_text())["torchvision"]
            assert "medaug" not in recipe
            code = (f"import torch, torchvision\n{recipe}\n"
                    f"m.load_state_dict(torch.load({weights!r}, weights_only=True))\n"
                    "features = m.eval()(torch.load(INPUT))\n")
        codes[key] = code.replace(README_WEIGHTS, weights).replace(README_INPUT,
                                                                   "torch.load(INPUT)")
        x = torch.rand(shape, generator=torch.Generator().manual_seed(seed))
        torch.save(x, folder / f"{key}.in.pt")
        expected[key] = _features(backbone, x)
    plain = _run_plain(codes, folder)
    return {key: (plain[key], expected[key]) for key in cases}


def _check(plain: torch.Tensor | str, expected: torch.Tensor) -> None:
    assert isinstance(plain, torch.Tensor), f"the plain-torchvision code failed:\n{plain}"
    torch.testing.assert_close(plain, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize(("name", "dim"), [("resnet18", 512), ("resnet18-small", 512)])
def test_export_writes_weights_and_info(name: str, dim: int, tmp_path: Path) -> None:
    """``encoder.json`` records the backbone, in_chans 1, the width, the torchvision recipe and
    the extra info; ``encoder.pt`` is the backbone's CPU state_dict; nothing else is left."""
    folder = tmp_path / "run"
    backbone = _export(name, folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted([ENCODER_FILE, ENCODER_INFO])
    meta = json.loads((folder / ENCODER_INFO).read_text())
    assert meta["backbone"] == name
    assert meta["in_chans"] == 1
    assert meta["feature_dim"] == dim
    assert meta["image_size"] == 32
    recipe = meta["torchvision"]
    assert recipe.startswith("m = torchvision.models.resnet18()")
    assert "torch.nn.Conv2d(1, 64" in recipe and "m.fc = torch.nn.Identity()" in recipe
    assert ("m.maxpool = torch.nn.Identity()" in recipe) == name.endswith("-small")
    state = torch.load(folder / ENCODER_FILE, weights_only=True)
    assert state.keys() == backbone.state_dict().keys()


@pytest.mark.parametrize("name", ["resnet18", "resnet18-small"])
def test_load_encoder_round_trip(name: str, tmp_path: Path) -> None:
    """``load_encoder`` (folder or encoder.pt path) rebuilds identical weights and outputs."""
    backbone = _export(name, tmp_path)
    x = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    expected = _features(backbone, x)
    torch.manual_seed(99)  # a different init, so equality comes from the loaded weights
    for where in (tmp_path, tmp_path / ENCODER_FILE):
        loaded, meta = load_encoder(where)
        assert meta["backbone"] == name and meta["image_size"] == 32
        for key, value in backbone.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value), key
        assert torch.equal(_features(loaded, x), expected)


def test_export_overwrites_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    """A second export (next epoch) replaces both files in place; no ``.tmp`` file remains."""
    _export("resnet18-small", tmp_path, seed=0)
    second = _export("resnet18-small", tmp_path, seed=1)
    torch.manual_seed(5)
    loaded, _ = load_encoder(tmp_path)
    assert torch.equal(loaded.conv1.weight, second.conv1.weight)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([ENCODER_FILE, ENCODER_INFO])


def test_load_encoder_from_an_empty_folder_names_it(tmp_path: Path) -> None:
    """No encoder there is a TrainingError naming the folder."""
    folder = tmp_path / "not-a-run"
    folder.mkdir()
    with pytest.raises(TrainingError, match=re.escape(str(folder))):
        load_encoder(folder)


def test_weights_that_do_not_fit_name_encoder_pt(tmp_path: Path) -> None:
    """resnet18 weights under an ``encoder.json`` that says resnet50 are a TrainingError
    naming encoder.pt and the recorded backbone."""
    _export("resnet18", tmp_path)
    meta = json.loads((tmp_path / ENCODER_INFO).read_text())
    (tmp_path / ENCODER_INFO).write_text(json.dumps({**meta, "backbone": "resnet50"}))
    with pytest.raises(TrainingError, match=ENCODER_FILE) as info:
        load_encoder(tmp_path)
    assert "resnet50" in str(info.value)


def test_readme_snippet_loads_the_encoder_into_plain_torchvision(
        plain_runs: dict[str, tuple[torch.Tensor | str, torch.Tensor]]) -> None:
    """The issue's requirement: the README's snippet, run in a process that never imports
    medaug (only the weights path and the input changed), loads an exported resnet18 encoder
    and gives medaug's features, with the shape its comment documents."""
    plain, expected = plain_runs["readme"]
    _check(plain, expected)
    assert expected.shape == (4, 512)


def test_readme_small_variant_sentence_loads_resnet18_small(
        plain_runs: dict[str, tuple[torch.Tensor | str, torch.Tensor]]) -> None:
    """The README's one-sentence change for ``resnet18-small`` (conv1 and maxpool), applied to
    the snippet, loads an exported resnet18-small encoder into plain torchvision."""
    _check(*plain_runs["readme-small"])


@pytest.mark.parametrize("name", ["resnet18", "resnet18-small"])
def test_encoder_json_recipe_rebuilds_the_module_in_plain_torchvision(
        name: str, plain_runs: dict[str, tuple[torch.Tensor | str, torch.Tensor]]) -> None:
    """The ``torchvision`` recipe saved in ``encoder.json``, executed with torch and torchvision
    alone, builds a module the exported weights load into strictly, with medaug's features."""
    _check(*plain_runs[f"recipe:{name}"])


# -- probes --


def test_save_probe_and_load_probe_round_trip_without_pickle(tmp_path: Path) -> None:
    import numpy as np

    from medaug.store import load_probe, save_probe

    arrays = {"mean": np.arange(3.0), "scale": np.ones(3), "coef": np.array([0.5, -1.0, 2.0]),
              "intercept": 0.25, "C": 0.1, "threshold": 0.4}
    path = save_probe(tmp_path / "probes" / "m.npz", arrays, weights_sha256="ab" * 32,
                      data_fingerprint="cd" * 8, model="m")
    with np.load(path, allow_pickle=False) as saved:  # readable without pickle
        assert set(saved.files) == {*arrays, "meta"}
    loaded, meta = load_probe(path)
    assert meta == {"weights_sha256": "ab" * 32, "data_fingerprint": "cd" * 8, "model": "m"}
    for key, value in arrays.items():
        np.testing.assert_array_equal(loaded[key], value)
    assert not list(path.parent.glob(".*tmp*"))  # written through a renamed temporary file


def test_load_probe_of_a_file_that_is_not_a_probe_is_one_config_error(tmp_path: Path) -> None:
    from medaug.errors import ConfigError
    from medaug.store import load_probe

    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an npz")
    for path in (bad, tmp_path / "missing.npz"):
        with pytest.raises(ConfigError, match="not a medaug probe file") as info:
            load_probe(path)
        assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_provenance_names_versions_time_host_and_pid() -> None:
    import os

    from medaug.store import provenance

    block = provenance()
    assert set(block) == {"medaug_version", "torch_version", "written", "host", "pid"}
    assert block["pid"] == os.getpid() and block["torch_version"] == torch.__version__
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", block["written"])


def test_a_running_record_without_a_lock_file_reads_as_recorded(tmp_path: Path) -> None:
    """A folder made before the lock existed cannot tell a live run from a dead one: its
    record reads as written; with a free lock file it reads as interrupted (stale)."""
    import json

    from medaug.store import LOCK_FILE, read_run

    (tmp_path / "run.json").write_text(json.dumps({"status": "running", "config": {}}))
    record = read_run(tmp_path)
    assert record is not None and (record.status, record.stale) == ("running", False)
    (tmp_path / LOCK_FILE).write_text("12345\n")
    record = read_run(tmp_path)
    assert record is not None and (record.status, record.stale) == ("interrupted", True)
