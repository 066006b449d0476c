"""``bench data``: synthetic images are seeded and structured, ``synthetic:N`` parses, the
sweep gives one row per size and mode with positive rates (no assertion about which is
faster: machines are noisy), and bad sizes are errors, through the CLI as one line."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from medaug.bench.dataset_size import (
    MODES,
    parse_synthetic,
    random_batches,
    run_size_sweep,
    synthetic_images,
)
from medaug.cli import app
from medaug.errors import DataError, TrainingError

TINY = {"size": 16, "batch": 4, "steps": 2, "warmup": 1, "rounds": 1,
        "backbone": "resnet18-small"}


def test_synthetic_images_are_seeded_and_have_a_bright_blob() -> None:
    a = synthetic_images(300, 16, seed=1)  # more than one chunk of 4 M pixels? no: one
    assert a.shape == (300, 16, 16) and a.dtype == np.uint8
    assert np.array_equal(a, synthetic_images(300, 16, seed=1))
    assert not np.array_equal(a, synthetic_images(300, 16, seed=2))
    assert a.min() >= 20
    assert (a.reshape(300, -1).max(axis=1) > 100).all()  # the blob's peak
    assert np.median(a) < 100  # a dark background
    big = synthetic_images(90, 224, seed=0)  # 224 px: chunks of 83 images, two of them
    assert big.shape == (90, 224, 224) and (big.reshape(90, -1).max(axis=1) > 100).all()
    with pytest.raises(DataError, match="n >= 1 and size >= 8"):
        synthetic_images(0, 16)


def test_parse_synthetic() -> None:
    assert parse_synthetic("synthetic:1000") == 1000
    assert parse_synthetic("knee") is None
    assert parse_synthetic("folder:/x/synthetic:3") is None
    for bad in ("synthetic:", "synthetic:-3", "synthetic:0", "synthetic:1e3"):
        with pytest.raises(DataError, match="positive integer"):
            parse_synthetic(bad)


def test_random_batches_hold_distinct_positions() -> None:
    batches = random_batches(10, 4, 5, seed=0)
    assert len(batches) == 5
    for b in batches:
        assert b.dtype == np.int64 and len(set(b.tolist())) == 4
        assert b.min() >= 0 and b.max() < 10


def test_sweep_gives_one_row_per_size_and_mode() -> None:
    buffer = io.StringIO()
    rows = run_size_sweep(dataset_sizes=(256, 64), accelerator="cpu", **TINY,
                          console=Console(file=buffer, width=300))
    assert [(r.n_images, r.mode) for r in rows] == [(n, m) for n in (256, 64) for m in MODES]
    for r in rows:
        assert math.isfinite(r.img_s) and r.img_s > 0, r
        assert len(r.rounds) == 1 and r.vs_smallest > 0
        if r.n_images == 64:
            assert r.vs_smallest == pytest.approx(1.0)
    printed = " ".join(buffer.getvalue().split())
    assert "source images/s against dataset size: simclr, resnet18-small at 16 px" in printed
    assert "resident vs 64" in printed and "streamed src img/s" in printed
    assert "source images/s at 256 vs 64 images: streamed" in printed
    assert "precision 32-true, compile off (auto), channels-last off (auto)" in printed


def test_bad_sweeps_are_training_errors() -> None:
    with pytest.raises(TrainingError, match="at least one dataset size"):
        run_size_sweep(dataset_sizes=(), **TINY, console=Console(file=io.StringIO()))
    with pytest.raises(TrainingError, match="every dataset size >= the batch"):
        run_size_sweep(dataset_sizes=(64, 3), **TINY, console=Console(file=io.StringIO()))
    with pytest.raises(TrainingError, match="steps >= 1"):
        run_size_sweep(dataset_sizes=(64,), **{**TINY, "steps": 0},
                       console=Console(file=io.StringIO()))


def test_cli_runs_the_sweep_and_refuses_bad_sizes() -> None:
    runner = CliRunner()
    args = ["bench", "data", "--size", "16", "--batch", "4", "--steps", "1", "--warmup", "0",
            "--rounds", "1", "--backbone", "resnet18-small", "--accelerator", "cpu"]
    result = runner.invoke(app, [*args, "--dataset-sizes", "8,16"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "source images/s at 16 vs 8 images" in " ".join(result.output.split())
    result = runner.invoke(app, [*args, "--dataset-sizes", "8,lots"], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: bench data: --dataset-sizes must be comma-separated integers, got '8,lots'"]
