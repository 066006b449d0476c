"""The original study's chessboard (grid) distortion: cyclic shifts inside square cells.

The image is cut into ``cell x cell`` cells (the last row and column of cells are smaller when
``H`` or ``W`` is not a multiple of ``cell``) and each cell's content is rolled cyclically by its
own integer ``(dy, dx)``, as ``torch.roll`` would roll the cell alone::

    out[y0 + ly, x0 + lx] = in[y0 + (ly - dy) % ch, x0 + (lx - dx) % cw]

for a cell of size ``ch x cw`` at ``(y0, x0)``. Pixel values are moved, never interpolated.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

from medaug.augment.base import Op, Params, on_host, scaled
from medaug.augment.registry import register_op
from medaug.errors import AugmentError

# A region of equally sized cells: rows y0:y1 and columns x0:x1, cell size (ch, cw), and the
# index of its first cell row / column in the (n_rows, n_cols) shift grid.
_Region = tuple[int, int, int, int, int, int, int, int]


def grid_shape(height: int, width: int, cell: int) -> tuple[int, int]:
    """``(n_rows, n_cols)``: the number of cells, counting smaller border cells."""
    return -(-height // cell), -(-width // cell)


@lru_cache(maxsize=64)
def _regions(height: int, width: int, cell: int) -> tuple[_Region, ...]:
    """At most four regions (full cells, right strip, bottom strip, corner) whose cells share a
    size, so each is one strided view of the image."""

    def parts(size: int) -> list[tuple[int, int, int, int]]:
        full = size // cell * cell
        out = [(0, full, cell, 0)] if full else []
        if size > full:
            out.append((full, size, size - full, size // cell))
        return out

    return tuple((y0, y1, x0, x1, ch, cw, i0, j0)
                 for y0, y1, ch, i0 in parts(height) for x0, x1, cw, j0 in parts(width))


@lru_cache(maxsize=64)
def _aranges(n: int, device: torch.device) -> Tensor:
    return torch.arange(n, dtype=torch.int32, device=device)


def chessboard_shift(x: Tensor, dy: Tensor, dx: Tensor, cell: int) -> Tensor:
    """Roll every ``cell x cell`` cell of ``x`` cyclically by its own ``(dy, dx)``.

    Args:
        x: images ``(B, C, H, W)``; every channel gets its image's shifts.
        dy: row shifts ``(B, n_rows, n_cols)``, integers of any sign (``n_rows = ceil(H / cell)``).
        dx: column shifts ``(B, n_rows, n_cols)``.
        cell: cell side in pixels (of ``x``), ``>= 1``.

    Returns:
        ``(B, C, H, W)``, the same dtype and device as ``x``.

    One ``index_select`` with an int32 source index built per region of equal cells from
    ``(B, n_rows, cell, n_cols)`` and ``(B, n_rows, n_cols, cell)`` pieces: no loop over
    images or cells.
    """
    if x.ndim != 4:
        raise AugmentError(f"chessboard: expected (B, C, H, W), got {tuple(x.shape)}")
    b, c, h, w = x.shape
    cell = int(cell)
    if cell < 1:
        raise AugmentError(f"chessboard: cell must be >= 1 pixel, got {cell}")
    grid = (b, *grid_shape(h, w, cell))
    if tuple(dy.shape) != grid or tuple(dx.shape) != grid:
        raise AugmentError(f"chessboard: dy and dx must have shape {grid} for x {tuple(x.shape)} "
                           f"and cell {cell}, got {tuple(dy.shape)} and {tuple(dx.shape)}")
    if c > 1:  # every channel is an image with its sample's shifts
        dy, dx = dy.repeat_interleave(c, 0), dx.repeat_interleave(c, 0)
    n = b * c
    itype = torch.int32 if n * h * w < 2**31 else torch.int64
    dev = x.device
    dy, dx = dy.to(dev, itype), dx.to(dev, itype)
    img0 = (torch.arange(n, device=dev, dtype=itype) * (h * w)).view(n, 1, 1, 1)  # (N,1,1,1)
    index = torch.empty((n, h, w), dtype=itype, device=dev)
    for y0, y1, x0, x1, ch, cw, i0, j0 in _regions(h, w, cell):
        nr, nc = (y1 - y0) // ch, (x1 - x0) // cw
        sy = dy[:, i0:i0 + nr, j0:j0 + nc].unsqueeze(2)  # (N, nr, 1, nc)
        sx = dx[:, i0:i0 + nr, j0:j0 + nc].unsqueeze(3)  # (N, nr, nc, 1)
        ly, lx = _aranges(ch, dev).view(1, 1, ch, 1), _aranges(cw, dev).view(1, 1, 1, cw)
        row0 = (y0 + _aranges(nr, dev) * ch).view(1, nr, 1, 1)
        col0 = (x0 + _aranges(nc, dev) * cw).view(1, 1, nc, 1)
        rows = img0 + (row0 + (ly - sy) % ch) * w  # (N, nr, ch, nc)
        cols = col0 + (lx - sx) % cw  # (N, nr, nc, cw)
        view = index[:, y0:y1, x0:x1].view(n, nr, ch, nc, cw)
        torch.add(rows.unsqueeze(4), cols.unsqueeze(2), out=view)  # (N, nr, ch, nc, cw)
    return x.reshape(-1).index_select(0, index.view(-1)).view(b, c, h, w)


@register_op("chessboard")
class Chessboard(Op):
    """Cut the image into cells and roll each cell's content by its own random integer shift.

    Args:
        cell: cell side in px at 224 px, scaled by ``H / 224`` and rounded (at least 2).
        shift: largest shift in px at 224 px, scaled and rounded (at least 1 when
            ``shift > 0``); ``dy`` and ``dx`` are uniform integers in ``[-shift, shift]``,
            independent per cell and per image.
        p: probability of distorting each sample.

    Params: ``dy``, ``dx`` ``(B, n_rows, n_cols)`` int64, and ``cell`` ``(B,)`` int64 (the
    scaled cell side, the same for every sample).
    """

    def __init__(self, cell: float = 20, shift: float = 5, p: float = 1.0) -> None:
        super().__init__(p)
        if not float(cell) > 0:
            raise AugmentError(f"chessboard: cell must be > 0 px, got {cell}")
        if not float(shift) >= 0:
            raise AugmentError(f"chessboard: shift must be >= 0 px, got {shift}")
        self.cell, self.shift = float(cell), float(shift)

    def scaled_sizes(self, height: int) -> tuple[int, int]:
        """``(cell, shift)`` in pixels for images of height ``height``."""
        cell = max(2, round(scaled(self.cell, height)))
        shift = round(scaled(self.shift, height))
        return cell, (1 if shift == 0 and self.shift > 0 else shift)

    def sample_params(self, batch: int, height: int, width: int, generator: torch.Generator
                      ) -> Params:
        cell, shift = self.scaled_sizes(height)
        shape = (batch, *grid_shape(height, width, cell))
        return {
            "dy": torch.randint(-shift, shift + 1, shape, generator=generator),
            "dx": torch.randint(-shift, shift + 1, shape, generator=generator),
            "cell": torch.full((batch,), cell, dtype=torch.int64),
        }

    def apply(self, x: Tensor, params: Params) -> Tensor:
        """Roll the cells of ``x`` ``(B, 1, H, W)`` by ``params["dy"]``, ``params["dx"]``."""
        cells = on_host(params, "cell")
        cell = int(cells[0]) if len(cells) else 1
        keep = ~params["apply"].view(-1, 1, 1)  # a zero shift is the identity
        dy = params["dy"].masked_fill(keep, 0)
        dx = params["dx"].masked_fill(keep, 0)
        return chessboard_shift(x, dy, dx, cell)

    def at_size(self, size: int) -> str:
        cell, shift = self.scaled_sizes(size)
        return f"cell {cell} px, shift +-{shift} px at {size} px"

    def extra_repr(self) -> str:
        return f"cell={self.cell:g}, shift={self.shift:g}, p={self.p}"
