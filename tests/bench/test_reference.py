"""The per-image reference pipeline of ``bench augment``: its loop chessboard is medaug's
chessboard with the same shifts, and it makes normalised 1-channel views."""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from PIL import Image

from medaug.augment import chessboard_shift
from medaug.augment.chessboard import grid_shape
from medaug.bench.reference import LoopChessboard, reference_pipeline, reference_two_views


@pytest.fixture
def seeded() -> Iterator[None]:
    """Seed Python's and torch's global generators, and restore both afterwards."""
    state = random.getstate()
    with torch.random.fork_rng():
        random.seed(0)
        torch.manual_seed(0)
        yield
    random.setstate(state)


def _loop_shifts(seed: int, n_rows: int, n_cols: int, shift: int) -> tuple[torch.Tensor,
                                                                          torch.Tensor]:
    """The ``(dy, dx)`` that :class:`LoopChessboard` draws after ``random.seed(seed)``: cells
    row by row (rows outer, columns inner), ``dy`` then ``dx`` per cell. ``(1, rows, cols)``."""
    random.seed(seed)
    dy = torch.zeros((1, n_rows, n_cols), dtype=torch.int64)
    dx = torch.zeros((1, n_rows, n_cols), dtype=torch.int64)
    for i in range(n_rows):
        for j in range(n_cols):
            dy[0, i, j] = random.randint(-shift, shift)
            dx[0, i, j] = random.randint(-shift, shift)
    return dy, dx


@pytest.mark.parametrize(("height", "width"), [(45, 53), (224, 224)])
@pytest.mark.parametrize("seed", [0, 1])
def test_loop_chessboard_equals_chessboard_shift(height: int, width: int, seed: int) -> None:
    cell, shift = 20, 5
    img = np.random.default_rng(seed).integers(0, 255, (height, width), endpoint=True,
                                               dtype=np.uint8)
    dy, dx = _loop_shifts(seed, *grid_shape(height, width, cell), shift)
    assert bool((dy != 0).any()) and bool((dx != 0).any())  # the comparison moves pixels

    state = random.getstate()
    random.seed(seed)
    try:
        looped = np.array(LoopChessboard(cell, shift)(Image.fromarray(img)))
    finally:
        random.setstate(state)
    batched = chessboard_shift(torch.from_numpy(img)[None, None], dy, dx, cell)[0, 0]

    assert looped.dtype == np.uint8
    assert looped.shape == (height, width)
    assert not np.array_equal(looped, img)
    np.testing.assert_array_equal(batched.numpy(), looped)


def test_loop_chessboard_rolls_like_np_roll_in_each_cell() -> None:
    # An independent check of the loop on one 40 x 40 image of four cells.
    img = np.arange(40 * 40, dtype=np.int32).reshape(40, 40).astype(np.uint8)
    dy, dx = _loop_shifts(3, 2, 2, 5)
    random.seed(3)
    out = np.array(LoopChessboard(20, 5)(Image.fromarray(img)))
    for i in range(2):
        for j in range(2):
            block = img[20 * i : 20 * i + 20, 20 * j : 20 * j + 20]
            expected = np.roll(block, (int(dy[0, i, j]), int(dx[0, i, j])), axis=(0, 1))
            np.testing.assert_array_equal(out[20 * i : 20 * i + 20, 20 * j : 20 * j + 20],
                                          expected)


def _gray(seed: int, size: int = 224) -> Image.Image:
    arr = np.random.default_rng(seed).integers(0, 255, (size, size), endpoint=True,
                                               dtype=np.uint8)
    return Image.fromarray(arr)


@pytest.mark.usefixtures("seeded")
def test_reference_pipeline_makes_normalised_256_px_view() -> None:
    img = _gray(0)
    assert img.mode == "L"
    view = reference_pipeline()(img)
    assert isinstance(view, torch.Tensor)
    assert view.shape == (1, 256, 256)
    assert view.dtype == torch.float32
    assert float(view.min()) >= -1.0 and float(view.max()) <= 1.0
    # uniform noise around mid-grey stays centred and spread after (x - 0.5) / 0.5
    assert abs(float(view.mean())) < 0.05
    assert float(view.max()) - float(view.min()) > 1.0


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize(("value", "expected"), [(0, -1.0), (255, 1.0)])
def test_reference_pipeline_maps_black_and_white_to_minus_one_and_one(value: int,
                                                                       expected: float) -> None:
    img = Image.fromarray(np.full((224, 224), value, dtype=np.uint8))
    for _ in range(5):
        view = reference_pipeline()(img)
        assert view.shape == (1, 256, 256)
        # rotation fills corners with black (-1); white stays 1 everywhere else
        assert float(view.max()) == expected
        assert float(view.min()) >= -1.0
        assert float((view == expected).float().mean()) > 0.9


@pytest.mark.usefixtures("seeded")
def test_reference_pipeline_resize_sets_output_size() -> None:
    view = reference_pipeline(64)(_gray(1))
    assert view.shape == (1, 64, 64)


@pytest.mark.usefixtures("seeded")
def test_reference_two_views_gives_two_different_views_per_image() -> None:
    images = [_gray(k) for k in range(3)]
    pairs = reference_two_views(images, reference_pipeline())
    assert len(pairs) == 3
    for v1, v2 in pairs:
        assert v1.shape == v2.shape == (1, 256, 256)
        assert not torch.equal(v1, v2)
    # the views come from their own images, not from one image repeated
    assert not torch.equal(pairs[0][0], pairs[1][0])
