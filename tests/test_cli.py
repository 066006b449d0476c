"""The command line: help everywhere, ``data summary``, ``prepare``, friendly errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import write_png
from medaug.cli import app

runner = CliRunner()

COMMANDS = [[], ["data"], ["data", "summary"], ["prepare"], ["augment"], ["augment", "list"],
            ["augment", "preview"], ["bench"], ["bench", "augment"], ["bench", "train"],
            ["pretrain"], ["curves"]]


def _tree(root: Path, n: int = 10) -> Path:
    for k in range(n):
        write_png(root / "normal" / f"n{k}.png", (8, 8), seed=k)
        write_png(root / "abnormal" / f"a{k}.png", (8, 8), seed=50 + k)
    return root


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "medaug")
def test_help_works_for_every_command(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert "Traceback" not in result.output


def test_top_level_help_lists_subcommands() -> None:
    result = runner.invoke(app, ["--help"])
    for name in ("data", "prepare", "augment", "bench"):
        assert name in result.output


def test_data_summary_prints_counts(tmp_path: Path) -> None:
    root = _tree(tmp_path / "mini")
    result = runner.invoke(app, ["data", "summary", "--data", f"folder:{root}", "--val", "0.2",
                                 "--test", "0.2"])
    assert result.exit_code == 0, result.output
    assert "mini: 20 images, 20 patients, 20 studies" in result.output
    rows = [tuple(cell.strip() for cell in ln.strip("│").split("│"))
            for ln in result.output.splitlines() if ln.startswith("│")]
    # 10 patients per class: 2 val, 2 test, 6 train each
    assert rows == [("train", "-", "abnormal", "6", "6", "6"),
                    ("train", "-", "normal", "6", "6", "6"),
                    ("val", "-", "abnormal", "2", "2", "2"),
                    ("val", "-", "normal", "2", "2", "2"),
                    ("test", "-", "abnormal", "2", "2", "2"),
                    ("test", "-", "normal", "2", "2", "2")]
    assert "train 1.00, val 1.00, test 1.00" in " ".join(result.output.split())
    assert "leakage check: passed" in result.output


def test_prepare_twice_builds_then_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    monkeypatch.setenv("MEDAUG_CACHE_DIR", str(tmp_path / "cache"))
    root = _tree(tmp_path / "mini")
    args = ["prepare", "--data", f"folder:{root}", "--size", "8", "--no-clahe", "--workers",
            "1"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert first.output.startswith("built cache")
    assert "20 images of 8x8 px, 0 rejected" in first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert second.output.startswith("reused cache")
    assert len(list((tmp_path / "cache").iterdir())) == 1


def test_prepare_reports_rejected_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    monkeypatch.setenv("MEDAUG_CACHE_DIR", str(tmp_path / "cache"))
    root = _tree(tmp_path / "mini")
    (root / "abnormal" / "broken.png").write_bytes(b"")
    result = runner.invoke(app, ["prepare", "--data", f"folder:{root}", "--size", "8",
                                 "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "20 images of 8x8 px, 1 rejected" in result.output
    assert "rejected.csv" in result.output
    summary = result.output.split("1 rejected (", 1)[1].split(";", 1)[0]
    assert summary.startswith("1 ") and summary[2:].strip()  # "1 <reason category>"


def test_bad_dataset_path_exits_2_without_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "none"
    result = runner.invoke(app, ["data", "summary", "--data", f"folder:{missing}"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.output.startswith("error: dataset folder")
    assert "".join(result.output.split()).endswith(f"{missing}doesnotexist")


def test_prepare_bad_parameter_exits_2(tmp_path: Path) -> None:
    root = _tree(tmp_path / "mini")
    result = runner.invoke(app, ["prepare", "--data", f"folder:{root}", "--size", "4"])
    assert result.exit_code == 2
    assert "image size must be between 8 and 4096 px, got 4" in result.output
    assert "Traceback" not in result.output


def test_bad_dataset_path_message_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path.joinpath(*["deep_folder_name"] * 12, "none")
    result = runner.invoke(app, ["data", "summary", "--data", f"folder:{missing}"],
                           env={"COLUMNS": "80"})
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: dataset folder {missing} does not exist"]


@pytest.mark.parametrize("name", ["scan[b]", "scan[/x]"])
def test_error_message_with_brackets_is_printed_literally(tmp_path: Path, name: str) -> None:
    missing = tmp_path / name / "none"
    result = runner.invoke(app, ["data", "summary", "--data", f"folder:{missing}"],
                           env={"COLUMNS": "1000"})
    assert result.exit_code == 2
    assert f"{missing} does not exist" in result.output
