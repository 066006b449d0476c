from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from aug_helpers import gen, noise

from medaug.augment import create_op
from medaug.augment.geometry import affine_grid, axis_grid, base_coords


@pytest.mark.filterwarnings("ignore:Since version 1.3.0, affine_grid")
@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize(("h", "w"), [(7, 7), (5, 9), (1, 4)])
def test_affine_grid_matches_torch(align_corners: bool, h: int, w: int) -> None:
    theta = torch.randn((3, 2, 3), generator=gen(), dtype=torch.float64)
    expect = F.affine_grid(theta, [3, 1, h, w], align_corners=align_corners)
    torch.testing.assert_close(affine_grid(theta, h, w, align_corners), expect)


def test_axis_grid_matches_diagonal_affine_grid() -> None:
    theta = torch.tensor([[[0.5, 0.0, 0.2], [0.0, 0.8, -0.1]]], dtype=torch.float64)
    xs, ys = base_coords(6, False, theta), base_coords(4, False, theta)
    grid = axis_grid((0.5 * xs + 0.2)[None], (0.8 * ys - 0.1)[None])
    torch.testing.assert_close(grid, F.affine_grid(theta, [1, 1, 4, 6], align_corners=False))


def test_crop_matches_border_padded_grid_sample() -> None:
    x = noise(8, (20, 28), dtype=torch.float64)
    op = create_op("crop", scale=(0.2, 1.0))
    params = op.sample(x, gen(3))
    h, w = 20, 28
    top, left, bh, bw = (params[k].double() for k in ("top", "left", "height", "width"))
    zero = torch.zeros_like(top)
    theta = torch.stack([torch.stack([bw / w, zero, (2 * left + bw) / w - 1], -1),
                         torch.stack([zero, bh / h, (2 * top + bh) / h - 1], -1)], 1)
    grid = F.affine_grid(theta, [8, 1, h, w], align_corners=False)
    expect = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    torch.testing.assert_close(op.apply(x, params), expect)
