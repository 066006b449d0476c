"""``bench train``: the whole bench runs on a tiny folder set and on a synthetic set (no
assertion about which mode is faster: machines are noisy), the phase shares are a partition of
the profiled step, the options reach the run and the closing line, a missing dataset is a
MedaugError, the CLI turns bad options into one line, and the real knee set runs with the
defaults."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import medaug.data.open
from helpers import write_png
from medaug.bench.train import TARGET_RATIO, TrainBenchRow, run_train_bench
from medaug.bench.train_phases import PHASES, phase_shares
from medaug.cli import app
from medaug.errors import DataError, MedaugError, TrainingError
from medaug.methods import available_methods

runner = CliRunner()
TINY = {"size": 16, "batch": 4, "steps": 1, "warmup": 0, "rounds": 1,
        "backbone": "resnet18-small"}


def _folder(root: Path, n: int = 6) -> Path:
    for k in range(n):
        write_png(root / "normal" / f"n{k}.png", (32, 32), seed=k)
        write_png(root / "abnormal" / f"a{k}.png", (32, 32), seed=100 + k)
    return root


def _check_rows(rows: list[TrainBenchRow], methods: tuple[str, ...], rounds: int) -> None:
    assert [r.method for r in rows] == list(methods)
    for r in rows:
        for value in (r.aug_img_s, r.pre_img_s, r.ratio, r.views_img_s, r.step_ms):
            assert math.isfinite(value) and value > 0, r
        assert r.ratio == pytest.approx(r.aug_img_s / r.pre_img_s, rel=1e-12)
        assert len(r.aug_rounds) == len(r.pre_rounds) == rounds
        assert r.params > 0
        assert list(r.phases) == list(PHASES)
        assert all(seconds > 0 for seconds in r.phases.values()), r.phases
        assert sum(phase_shares(r.phases).values()) == pytest.approx(1.0, abs=1e-6)
        assert r.step_ms == pytest.approx(1000 * sum(r.phases.values()), rel=1e-12)


def _flat(text: str) -> str:
    return " ".join(text.split())  # however the console wraps


def test_run_train_bench_end_to_end(tmp_path: Path) -> None:
    root = _folder(tmp_path / "mini")
    buffer = io.StringIO()
    rows = run_train_bench(data=f"folder:{root}", **{**TINY, "size": 32},
                           console=Console(file=buffer, width=300))

    _check_rows(rows, tuple(available_methods()), rounds=1)
    printed = _flat(buffer.getvalue())
    assert "training throughput, resnet18-small at 32 px" in printed
    assert "source images/s" in printed and "augmentation on src img/s" in printed
    assert "step time by phase" in printed and "forward+backward" in printed
    assert f"source images/s with augmentation on: {rows[0].method} " in printed
    assert f"ratio augmentation on/pre-augmented: {rows[0].method} " in printed
    assert f"{rows[1].ratio:.3f}" in printed
    assert f"target >= {TARGET_RATIO}" in printed
    assert "torch threads" in printed and "batch 4, 32 px" in printed
    # On the CPU auto means fp32, no compile, no channels-last, streamed batches.
    assert "device cpu, precision 32-true, compile off (auto), channels-last off (auto), " \
        "batches streamed from host memory" in printed


def test_synthetic_data_needs_no_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    def no_dataset(*args: object, **kwargs: object) -> None:
        raise AssertionError("synthetic data must not open a dataset")

    cache = tmp_path / "cache"
    monkeypatch.setenv("MEDAUG_CACHE_DIR", str(cache))
    monkeypatch.setattr(medaug.data.open, "open_dataset", no_dataset)
    buffer = io.StringIO()
    rows = run_train_bench(data="synthetic:12", methods=["simclr"], accelerator="cpu",
                           channels_last="on", resident="on", **TINY,
                           console=Console(file=buffer, width=300))
    _check_rows(rows, ("simclr",), rounds=1)
    printed = _flat(buffer.getvalue())
    assert "compile off (auto), channels-last on, batches resident on the device" in printed
    assert "data synthetic:12 (12 train images)" in printed
    assert not cache.exists() or not any(cache.iterdir())


def test_chosen_methods_run_in_the_given_order(tmp_path: Path) -> None:
    rows = run_train_bench(data="synthetic:8", methods=["byol", "simclr"], device="cpu",
                           **{**TINY, "rounds": 2}, console=Console(file=io.StringIO()))
    _check_rows(rows, ("byol", "simclr"), rounds=2)


def test_bad_data_is_a_medaug_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        run_train_bench(data=f"folder:{tmp_path / 'absent'}", **TINY,
                        console=Console(file=io.StringIO()))
    with pytest.raises(MedaugError, match="unknown dataset"):
        run_train_bench(data="no-such-set", **TINY, console=Console(file=io.StringIO()))
    for bad in ("synthetic:0", "synthetic:many"):
        with pytest.raises(DataError, match="positive integer"):
            run_train_bench(data=bad, **TINY, console=Console(file=io.StringIO()))


def test_batch_larger_than_the_train_split_is_a_training_error(tmp_path: Path) -> None:
    root = _folder(tmp_path / "mini", n=2)
    with pytest.raises(TrainingError, match="larger than"):
        run_train_bench(data=f"folder:{root}", **{**TINY, "batch": 64},
                        console=Console(file=io.StringIO()))
    with pytest.raises(TrainingError, match="larger than"):
        run_train_bench(data="synthetic:3", **TINY, console=Console(file=io.StringIO()))


def _cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["bench", "train", *args], env={"COLUMNS": "300"})
    return result.exit_code, result.output


def test_cli_options_reach_the_run() -> None:
    code, output = _cli("--data", "synthetic:8", "--size", "16", "--batch", "4", "--steps",
                        "1", "--warmup", "0", "--rounds", "1", "--method", "simclr",
                        "--backbone", "resnet18-small", "--accelerator", "cpu", "--compile",
                        "off", "--channels-last", "on", "--precision", "32-true",
                        "--resident", "off")
    assert code == 0, output
    flat = _flat(output)
    assert "precision 32-true, compile off, channels-last on, batches streamed" in flat
    assert "step time by phase" in flat and "0 warm-up + 1 timed steps" in flat


@pytest.mark.parametrize(("args", "message"), [
    (("--accelerator", "tpu"), "--accelerator must be one of auto, cpu, gpu, cuda, got 'tpu'"),
    (("--accelerator", "cpu", "--device", "cuda"), "--device cuda and --accelerator cpu "
     "disagree"),
    (("--device", "abacus"), "--device must be cpu, cuda or cuda:N"),
    (("--compile", "maybe"), "--compile must be one of auto, on, off"),
    (("--channels-last", "yes"), "--channels-last must be one of auto, on, off"),
    (("--precision", "8-bit"), "--precision must be one of"),
    (("--precision", "16-mixed", "--accelerator", "cpu"), "16-mixed needs CUDA"),
    (("--resident", "always"), "--resident must be one of auto, on, off"),
], ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_cli_bad_options_are_one_line_errors(args: tuple[str, ...], message: str) -> None:
    code, output = _cli("--data", "synthetic:8", *args)
    assert code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: bench"), output
    assert message in lines[0]


@pytest.mark.slow
@pytest.mark.data
def test_run_train_bench_on_knee(shared_data: Path) -> None:
    buffer = io.StringIO()
    rows = run_train_bench(steps=2, rounds=1, console=Console(file=buffer, width=300))
    _check_rows(rows, tuple(available_methods()), rounds=1)
    assert "data knee" in _flat(buffer.getvalue())
