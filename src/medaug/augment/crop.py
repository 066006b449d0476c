"""Random resized crop (Szegedy et al. 2015, "Going deeper with convolutions"; SimCLR)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from medaug.augment.base import Op, Params, box_ranges, on_applied, on_host, uniform
from medaug.augment.geometry import axis_grid, base_coords
from medaug.augment.registry import register_op


@register_op("crop")
class Crop(Op):
    """Crop a random box of each image and resize it back to ``H x W`` (bilinear).

    The box's area is a fraction of the image drawn uniformly from ``scale`` and its aspect
    (width / height) is drawn log-uniformly from ``ratio``; sides are clipped to the image
    (instead of torchvision's retry loop) and the box is placed uniformly inside it. Boxes have
    sub-pixel (float) corners, so the whole batch is resampled in one ``grid_sample``.

    Args:
        scale: range of the box's fraction of the image area, within ``(0, 1]``.
        ratio: range of width / height, positive; drawn log-uniformly.
        p: probability of cropping each sample.

    Params: ``top``, ``left``, ``height``, ``width``, ``(B,)`` float pixels.
    """

    def __init__(self, scale: float | tuple[float, float] = (0.5, 1.0),
                 ratio: float | tuple[float, float] = (3 / 4, 4 / 3), p: float = 1.0) -> None:
        super().__init__(p)
        self.scale, self.ratio = box_ranges("crop", ("scale", "ratio"), scale, ratio)

    def sample_params(self, batch: int, height: int, width: int, generator: torch.Generator
                      ) -> Params:
        area = uniform(generator, (batch,), *self.scale) * (height * width)
        ratio = torch.exp(uniform(generator, (batch,), *map(math.log, self.ratio)))
        w = torch.sqrt(area * ratio).clamp(max=width)
        h = torch.sqrt(area / ratio).clamp(max=height)
        top = torch.rand((batch,), generator=generator) * (height - h)
        left = torch.rand((batch,), generator=generator) * (width - w)
        return {"top": top, "left": left, "height": h, "width": w}

    def apply(self, x: Tensor, params: Params) -> Tensor:
        """Resample the boxes of ``params`` from ``x`` ``(B, 1, H, W)`` to ``(B, 1, H, W)``."""

        def crop(xs: Tensor, sel: Tensor | slice) -> Tensor:
            h, w = xs.shape[-2:]
            top, left, bh, bw = (params[k][sel].to(xs.dtype).unsqueeze(1)
                                 for k in ("top", "left", "height", "width"))  # (K, 1)
            # Output pixel centres -> input normalised coordinates (align_corners=False: the
            # image spans [0, W] in pixel-edge units), clamped to the outer pixel centres,
            # which is border padding without its cost.
            gx = (left + (base_coords(w, False, xs) + 1) / 2 * bw) * (2 / w) - 1  # (K, W)
            gy = (top + (base_coords(h, False, xs) + 1) / 2 * bh) * (2 / h) - 1  # (K, H)
            grid = axis_grid(gx.clamp(1 / w - 1, 1 - 1 / w), gy.clamp(1 / h - 1, 1 - 1 / h))
            return F.grid_sample(xs, grid, mode="bilinear", padding_mode="zeros",
                                 align_corners=False)

        return on_applied(x, on_host(params, "apply"), crop)

    def extra_repr(self) -> str:
        (s0, s1), (r0, r1) = self.scale, self.ratio
        return f"scale=({s0:g}, {s1:g}), ratio=({r0:.3g}, {r1:.3g}), p={self.p}"
