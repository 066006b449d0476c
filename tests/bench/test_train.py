"""``bench train``: the whole bench runs on a tiny folder set (no assertion about which mode is
faster), a missing dataset is a MedaugError, and the real knee set runs with the defaults."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from rich.console import Console

from helpers import write_png
from medaug.bench.train import TARGET_RATIO, TrainBenchRow, run_train_bench
from medaug.errors import DataError, MedaugError, TrainingError
from medaug.methods import available_methods


def _folder(root: Path, n: int = 6) -> Path:
    for k in range(n):
        write_png(root / "normal" / f"n{k}.png", (32, 32), seed=k)
        write_png(root / "abnormal" / f"a{k}.png", (32, 32), seed=100 + k)
    return root


def _check_rows(rows: list[TrainBenchRow], methods: tuple[str, ...], rounds: int) -> None:
    assert [r.method for r in rows] == list(methods)
    for r in rows:
        for value in (r.aug_img_s, r.pre_img_s, r.ratio, r.views_img_s):
            assert math.isfinite(value) and value > 0, r
        assert r.ratio == pytest.approx(r.aug_img_s / r.pre_img_s, rel=1e-12)
        assert len(r.aug_rounds) == len(r.pre_rounds) == rounds
        assert r.params > 0


def test_run_train_bench_end_to_end(tmp_path: Path) -> None:
    root = _folder(tmp_path / "mini")
    buffer = io.StringIO()
    rows = run_train_bench(data=f"folder:{root}", size=32, batch=4, steps=1, warmup=0,
                           rounds=1, backbone="resnet18",
                           console=Console(file=buffer, width=300))

    _check_rows(rows, tuple(available_methods()), rounds=1)
    printed = buffer.getvalue()
    assert "training throughput, resnet18 at 32 px" in printed
    assert f"ratio augmentation on/pre-augmented: {rows[0].method} " in printed
    assert f"{rows[1].ratio:.3f}" in printed
    assert f"target >= {TARGET_RATIO}" in printed
    assert "torch threads" in printed and "batch 4, 32 px" in printed


def test_chosen_methods_run_in_the_given_order(tmp_path: Path) -> None:
    root = _folder(tmp_path / "mini")
    rows = run_train_bench(data=f"folder:{root}", size=32, batch=4, steps=1, warmup=0,
                           rounds=1, methods=["simclr"], backbone="resnet18-small",
                           console=Console(file=io.StringIO(), width=300))
    _check_rows(rows, ("simclr",), rounds=1)


def test_missing_dataset_is_a_medaug_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        run_train_bench(data=f"folder:{tmp_path / 'absent'}", size=32, batch=4, steps=1,
                        warmup=0, rounds=1, console=Console(file=io.StringIO()))
    with pytest.raises(MedaugError, match="unknown dataset"):
        run_train_bench(data="no-such-set", size=32, batch=4, steps=1, warmup=0, rounds=1,
                        console=Console(file=io.StringIO()))


def test_batch_larger_than_the_train_split_is_a_training_error(tmp_path: Path) -> None:
    root = _folder(tmp_path / "mini", n=2)
    with pytest.raises(TrainingError, match="larger than"):
        run_train_bench(data=f"folder:{root}", size=32, batch=64, steps=1, warmup=0, rounds=1,
                        console=Console(file=io.StringIO()))


@pytest.mark.slow
@pytest.mark.data
def test_run_train_bench_on_knee(shared_data: Path) -> None:
    buffer = io.StringIO()
    rows = run_train_bench(steps=2, rounds=1, console=Console(file=buffer, width=300))
    _check_rows(rows, tuple(available_methods()), rounds=1)
    assert "data knee" in " ".join(buffer.getvalue().split())  # however the table wraps
