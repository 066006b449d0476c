"""``bench augment``: the batched spec is the reference's pipeline in medaug's vocabulary; the
timers and the whole bench run on tiny inputs (no assertion about which pipeline is faster)."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from helpers import write_png
from medaug.augment import build_pipeline
from medaug.bench.augment import (
    BATCHED_SPEC,
    BILINEAR_SPEC,
    TARGET_RATIO,
    run_augment_bench,
    time_batched,
    time_reference,
)

RESULT_KEYS = {"images", "reference_images_per_s", "batched_images_per_s",
               "bilinear_images_per_s", "ratio", "bilinear_ratio", "target_ratio"}


def test_batched_spec_has_the_reference_parameters() -> None:
    pipe = build_pipeline(BATCHED_SPEC)
    assert [op.name for op in pipe.ops] == ["rotate", "flip", "blur", "chessboard"]
    rotate, flip, blur, chessboard = pipe.ops
    # transforms.RandomRotation(10): +-10 degrees, nearest, always, fill 0
    assert rotate.degrees == (-10.0, 10.0)
    assert rotate.interpolation == "nearest"
    assert rotate.p == 1.0
    assert rotate.fill == 0.0
    # transforms.RandomHorizontalFlip()
    assert flip.p == 0.5
    assert (flip.horizontal, flip.vertical) == (True, False)
    # RandomApply([GaussianBlur(3, sigma=(1.0, 2.0))], p=0.2)
    assert blur.sigma == (1.0, 2.0)
    assert blur.kernel_size == 3
    assert blur.p == 0.2
    # LoopChessboard(20, 5), always
    assert (chessboard.cell, chessboard.shift, chessboard.p) == (20.0, 5.0, 1.0)


def test_bilinear_spec_differs_only_by_interpolation() -> None:
    batched, bilinear = build_pipeline(BATCHED_SPEC), build_pipeline(BILINEAR_SPEC)
    assert bilinear.ops[0].interpolation == "bilinear"
    assert [repr(op) for op in bilinear.ops[1:]] == [repr(op) for op in batched.ops[1:]]
    assert repr(bilinear.ops[0]) == repr(batched.ops[0]).replace("nearest", "bilinear")


@pytest.fixture
def images() -> np.ndarray:
    """Eight 64 x 64 uint8 images with structure (a gradient plus noise), not constant."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, 64)[None, :] + np.linspace(0, 40, 64)[:, None]
    noise = rng.normal(0, 10, (8, 64, 64))
    return np.clip(ramp + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("spec", [BATCHED_SPEC, BILINEAR_SPEC])
def test_time_batched_returns_positive_seconds(images: np.ndarray, spec: str) -> None:
    seconds = time_batched(images, batch=4, device="cpu", repeats=1, spec=spec)
    assert isinstance(seconds, float)
    assert math.isfinite(seconds) and seconds > 0


def test_time_reference_returns_positive_seconds(images: np.ndarray) -> None:
    seconds = time_reference(images, 1, resize=64)
    assert isinstance(seconds, float)
    assert math.isfinite(seconds) and seconds > 0


def _folder(root: Path, n: int = 6) -> Path:
    for k in range(n):
        write_png(root / "normal" / f"n{k}.png", (32, 32), seed=k)
        write_png(root / "abnormal" / f"a{k}.png", (32, 32), seed=100 + k)
    return root


def test_run_augment_bench_end_to_end(tmp_path: Path) -> None:
    root = _folder(tmp_path / "mini")
    out = tmp_path / "b.json"
    buffer = io.StringIO()
    result = run_augment_bench(data=f"folder:{root}", n_images=8, batch=4, repeats=1,
                               console=Console(file=buffer, width=200), out=out)

    assert result.keys() >= RESULT_KEYS
    assert result["images"] == 8
    assert result["size"] == 224
    assert result["target_ratio"] == TARGET_RATIO
    for key in ("reference_images_per_s", "batched_images_per_s", "bilinear_images_per_s",
                "ratio", "bilinear_ratio"):
        assert math.isfinite(result[key]) and result[key] > 0, key
    assert result["ratio"] == pytest.approx(
        result["batched_images_per_s"] / result["reference_images_per_s"], rel=1e-9)
    assert result["bilinear_ratio"] == pytest.approx(
        result["bilinear_images_per_s"] / result["reference_images_per_s"], rel=1e-9)

    assert json.loads(out.read_text()) == result
    printed = buffer.getvalue()
    assert "ratio batched/reference" in printed
    assert "two-view augmentation throughput, 8 real" in printed


def test_run_augment_bench_uses_every_image_when_asked_for_more(tmp_path: Path) -> None:
    root = _folder(tmp_path / "mini", n=2)
    result = run_augment_bench(data=f"folder:{root}", n_images=50, batch=4, repeats=1,
                               console=Console(file=io.StringIO(), width=200), out=None)
    assert result["images"] == 4
