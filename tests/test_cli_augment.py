"""The command line's augmentation commands: ``augment list``, ``augment preview`` and the help
of ``bench augment``."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from helpers import write_png
from medaug.augment import available_ops, create_op
from medaug.cli import app

runner = CliRunner()
WIDE = {"COLUMNS": "1000"}  # one line per printed message, whatever the terminal


def _tree(root: Path, n: int = 4) -> Path:
    for k in range(n):
        write_png(root / "normal" / f"n{k}.png", (40, 40), seed=k)
        write_png(root / "abnormal" / f"a{k}.png", (40, 40), seed=50 + k)
    return root


def test_augment_list_shows_every_op_with_its_parameters() -> None:
    result = runner.invoke(app, ["augment", "list"], env=WIDE)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    ops = available_ops()
    assert len(lines) == len(ops)
    for name, line in zip(ops, lines, strict=True):
        params = [p for p in inspect.signature(type(create_op(name)).__init__).parameters
                  if p != "self"]
        assert params, name
        assert line.startswith(f"{name}({', '.join(params)})  default: "), line
        assert repr(create_op(name)) in line


def test_augment_list_includes_the_study_ops() -> None:
    result = runner.invoke(app, ["augment", "list"], env=WIDE)
    for name in ("rotate", "flip", "blur", "chessboard", "crop", "erase", "intensity"):
        assert f"{name}(" in result.output


def test_augment_preview_writes_a_png(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDAUG_CACHE_DIR", str(tmp_path / "cache"))
    root = _tree(tmp_path / "mini")
    out = tmp_path / "p.png"
    result = runner.invoke(app, ["augment", "preview", "--data", f"folder:{root}", "--size",
                                 "32", "--images", "4", "--out", str(out), "--ops",
                                 "rotate+flip"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert out.is_file()
    assert out.stat().st_size > 500
    with Image.open(out) as png:
        assert png.format == "PNG"
        width, height = png.size
    # four image columns of 32 px, and rows for originals, each op and the pipeline
    assert width >= 4 * 32 and height >= 4 * 32
    text = " ".join(result.output.split())
    assert text.startswith(f"wrote {out} ")
    assert "ops rotate+flip" in text
    assert "4 images" in text


def test_augment_preview_bad_spec_exits_2_and_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("MEDAUG_CACHE_DIR", str(cache))
    root = _tree(tmp_path / "mini")
    out = tmp_path / "p.png"
    result = runner.invoke(app, ["augment", "preview", "--data", f"folder:{root}", "--size",
                                 "32", "--images", "4", "--out", str(out), "--ops",
                                 "rotate+nosuchop"], env=WIDE)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.output.startswith("error:")
    assert "'nosuchop'" in result.output
    valid = result.output.split("valid:", 1)[1]
    for name in available_ops():
        assert name in valid
    assert not out.exists()
    assert not cache.exists() or not any(cache.iterdir())  # failed before any data work


def test_bench_augment_help_mentions_batch() -> None:
    result = runner.invoke(app, ["bench", "augment", "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "--batch" in result.output
    assert "Batch size of the batched pipeline" in " ".join(result.output.split())
