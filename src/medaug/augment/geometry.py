"""Sampling grids for batched affine resampling, cheaper than ``F.affine_grid`` on the CPU.

``F.affine_grid`` multiplies a ``(B, H*W, 3)`` base grid by ``theta`` in a batched matmul with
an inner size of 3, which is slow on the CPU; an affine map is two broadcast adds per
coordinate instead. The result is the same grid ``(B, H, W, 2)`` (x first, normalised to
``[-1, 1]``) that :func:`torch.nn.functional.grid_sample` reads.
"""

from __future__ import annotations

import torch
from torch import Tensor


def base_coords(n: int, align_corners: bool, like: Tensor) -> Tensor:
    """Normalised pixel-centre coordinates ``(n,)`` along one axis, as ``F.affine_grid``."""
    if n <= 1:
        return torch.zeros(max(n, 0), dtype=like.dtype, device=like.device)
    c = torch.linspace(-1.0, 1.0, n, dtype=like.dtype, device=like.device)
    return c if align_corners else c * ((n - 1) / n)


def affine_grid(theta: Tensor, height: int, width: int, align_corners: bool) -> Tensor:
    """``F.affine_grid(theta, (B, C, height, width), align_corners)`` for ``theta`` ``(B, 2, 3)``
    (output normalised coordinates to input normalised coordinates): ``(B, H, W, 2)``."""
    xs = base_coords(width, align_corners, theta).view(1, 1, -1)  # (1, 1, W)
    ys = base_coords(height, align_corners, theta).view(1, -1, 1)  # (1, H, 1)
    t = theta.unsqueeze(-1).unsqueeze(-1)  # (B, 2, 3, 1, 1)
    grid = torch.empty((theta.shape[0], height, width, 2), dtype=theta.dtype,
                       device=theta.device)
    for k in range(2):
        torch.add(t[:, k, 0] * xs, t[:, k, 1] * ys + t[:, k, 2], out=grid[..., k])
    return grid


def axis_grid(gx: Tensor, gy: Tensor) -> Tensor:
    """A grid whose x depends only on the column and y only on the row: ``gx`` ``(B, W)`` and
    ``gy`` ``(B, H)`` normalised coordinates give ``(B, H, W, 2)``."""
    b, h, w = gx.shape[0], gy.shape[1], gx.shape[1]
    grid = torch.empty((b, h, w, 2), dtype=gx.dtype, device=gx.device)
    grid[..., 0] = gx.unsqueeze(1)
    grid[..., 1] = gy.unsqueeze(2)
    return grid
