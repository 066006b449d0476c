"""The chessboard distortion against a per-cell ``torch.roll`` loop and a hand-checked case."""

from __future__ import annotations

import pytest
import torch
from aug_helpers import gen, noise
from torch import Tensor

from medaug.augment import chessboard_shift, create_op
from medaug.augment.chessboard import grid_shape
from medaug.errors import AugmentError


def roll_reference(x: Tensor, dy: Tensor, dx: Tensor, cell: int) -> Tensor:
    """Loop over images and cells, rolling each cell alone (the obvious, slow definition)."""
    out = x.clone()
    h, w = x.shape[-2:]
    for b in range(x.shape[0]):
        for i, y0 in enumerate(range(0, h, cell)):
            for j, x0 in enumerate(range(0, w, cell)):
                block = x[b, :, y0:y0 + cell, x0:x0 + cell]
                shifts = (int(dy[b, i, j]), int(dx[b, i, j]))
                out[b, :, y0:y0 + cell, x0:x0 + cell] = torch.roll(block, shifts, dims=(-2, -1))
    return out


def random_shifts(b: int, h: int, w: int, cell: int, s: int, seed: int = 0
                  ) -> tuple[Tensor, Tensor]:
    g = gen(seed)
    shape = (b, *grid_shape(h, w, cell))
    return (torch.randint(-s, s + 1, shape, generator=g),
            torch.randint(-s, s + 1, shape, generator=g))


@pytest.mark.parametrize(("h", "w", "cell", "s"), [
    (32, 32, 8, 3),     # divisible
    (45, 37, 7, 9),     # neither side divisible, shifts larger than the cell
    (20, 26, 20, 5),    # one row of cells, a 6-px border column
    (9, 11, 16, 4),     # the cell is larger than the image
    (12, 10, 1, 3),     # 1-px cells: identity
])
def test_matches_roll_reference(h: int, w: int, cell: int, s: int) -> None:
    x = noise(3, (h, w))
    dy, dx = random_shifts(3, h, w, cell, s)
    torch.testing.assert_close(chessboard_shift(x, dy, dx, cell),
                               roll_reference(x, dy, dx, cell), rtol=0, atol=0)


def test_hand_checked_4x4() -> None:
    x = torch.arange(16.0).view(1, 1, 4, 4)
    dy = torch.tensor([[[1, 0], [0, 1]]])
    dx = torch.tensor([[[0, 1], [0, 1]]])
    expect = torch.tensor([[4.0, 5.0, 3.0, 2.0],
                           [0.0, 1.0, 7.0, 6.0],
                           [8.0, 9.0, 15.0, 14.0],
                           [12.0, 13.0, 11.0, 10.0]])
    assert torch.equal(chessboard_shift(x, dy, dx, 2)[0, 0], expect)


def test_hand_checked_3x3_border_cells_roll_within_their_size() -> None:
    x = torch.arange(9.0).view(1, 1, 3, 3)
    ones = torch.ones((1, 2, 2), dtype=torch.int64)
    expect = torch.tensor([[4.0, 3.0, 5.0],
                           [1.0, 0.0, 2.0],
                           [7.0, 6.0, 8.0]])
    assert torch.equal(chessboard_shift(x, ones, ones, 2)[0, 0], expect)
    # a shift of -1 in a 2-px cell is the same as +1; in a 1-px cell it is nothing
    assert torch.equal(chessboard_shift(x, -ones, -ones, 2)[0, 0], expect)


def test_channels_share_their_image_shifts() -> None:
    x = noise(2, 24).repeat(1, 3, 1, 1) * torch.tensor([1.0, 0.5, 0.25]).view(1, 3, 1, 1)
    dy, dx = random_shifts(2, 24, 24, 5, 2)
    out = chessboard_shift(x, dy, dx, 5)
    for c in range(3):
        assert torch.equal(out[:, c:c + 1], chessboard_shift(x[:, c:c + 1], dy, dx, 5))


def test_output_is_a_permutation_of_each_image() -> None:
    x = noise(4, (30, 50), dtype=torch.float64)
    dy, dx = random_shifts(4, 30, 50, 6, 5)
    out = chessboard_shift(x, dy, dx, 6)
    assert torch.equal(out.flatten(1).sort(1).values, x.flatten(1).sort(1).values)
    assert not torch.equal(out, x)


def test_bad_shift_shapes_raise() -> None:
    x = noise(2, 16)
    dy, dx = random_shifts(2, 16, 16, 4, 1)
    with pytest.raises(AugmentError, match="must have shape"):
        chessboard_shift(x, dy[:, :3], dx[:, :3], 4)
    with pytest.raises(AugmentError, match="must have shape"):
        chessboard_shift(x, dy, dx, 6)  # a 3 x 3 grid
    with pytest.raises(AugmentError, match="cell"):
        chessboard_shift(x, dy, dx, 0)


@pytest.mark.parametrize(("size", "cell", "shift"), [
    (224, 20, 5), (112, 10, 2), (64, 6, 1), (32, 3, 1), (16, 2, 1)])
def test_cell_and_shift_scale_with_image_size(size: int, cell: int, shift: int) -> None:
    op = create_op("chessboard")  # cell 20 px, shift 5 px at 224 px
    assert op.scaled_sizes(size) == (cell, shift)
    params = op.sample(torch.zeros((64, 1, size, size)), gen())
    assert (params["cell"] == cell).all()
    n = -(-size // cell)
    assert params["dy"].shape == params["dx"].shape == (64, n, n)
    for k in ("dy", "dx"):
        assert params[k].abs().max() == shift
        assert params[k].min() == -shift


def test_zero_shift_is_identity() -> None:
    x = noise(3, 40)
    assert torch.equal(create_op("chessboard", shift=0, p=1.0)(x, gen()), x)


def test_op_equals_function_on_its_params() -> None:
    x = noise(5, (48, 40))
    op = create_op("chessboard", cell=30, shift=8, p=0.6)
    p = op.sample(x, gen(2))
    a = p["apply"].view(-1, 1, 1)
    expect = roll_reference(x, p["dy"] * a, p["dx"] * a, int(p["cell"][0]))
    assert torch.equal(op.apply(x, p), expect)
    assert p["apply"].any() and not p["apply"].all()
