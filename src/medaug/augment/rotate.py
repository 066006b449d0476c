"""Rotation by a per-sample angle about the image centre."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from medaug.augment.base import Op, Params, as_range, on_applied, on_host, uniform
from medaug.augment.geometry import affine_grid
from medaug.augment.registry import register_op
from medaug.errors import AugmentError

INTERPOLATIONS = ("bilinear", "nearest")


@register_op("rotate")
class Rotate(Op):
    """Rotate each image by its own angle (bilinear; kornia's convention, positive is
    anticlockwise on screen, centre ``((W - 1) / 2, (H - 1) / 2)``).

    Args:
        degrees: ``d`` draws uniformly from ``[-d, d]``; a range ``(lo, hi)`` from it.
        fill: value of the pixels rotated in from outside the image.
        interpolation: ``bilinear`` (default) or ``nearest`` (the default of PIL and
            torchvision's ``RandomRotation``).
        p: probability of rotating each sample.

    Params: ``angle`` ``(B,)`` in degrees.
    """

    def __init__(self, degrees: float | tuple[float, float] = 10.0, fill: float = 0.0,
                 interpolation: str = "bilinear", p: float = 1.0) -> None:
        super().__init__(p)
        self.degrees = as_range(degrees, symmetric=True)
        if not -360.0 <= self.degrees[0] <= self.degrees[1] <= 360.0:
            raise AugmentError(f"rotate: degrees must be a range -360 <= lo <= hi <= 360, "
                               f"got {degrees}")
        self.fill = float(fill)
        if interpolation not in INTERPOLATIONS:
            raise AugmentError(f"rotate: interpolation must be one of {', '.join(INTERPOLATIONS)}"
                               f", got {interpolation!r}")
        self.interpolation = interpolation

    def sample_params(self, batch: int, height: int, width: int, generator: torch.Generator
                      ) -> Params:
        return {"angle": uniform(generator, (batch,), *self.degrees)}

    def apply(self, x: Tensor, params: Params) -> Tensor:
        """Rotate ``x`` ``(B, 1, H, W)`` by ``params["angle"]`` ``(B,)`` degrees."""

        def rotate(xs: Tensor, sel: Tensor | slice) -> Tensor:
            h, w = xs.shape[-2:]
            a = torch.deg2rad(params["angle"][sel].to(xs.dtype))  # (K,)
            cos, sin = a.cos(), a.sin()
            # Inverse rotation (output -> input) in normalised coordinates; the half sizes
            # (align_corners=True) keep it a rotation in pixels on non-square images.
            r = max(h - 1, 1) / max(w - 1, 1)
            zero = torch.zeros_like(cos)
            theta = torch.stack([torch.stack([cos, -sin * r, zero], -1),
                                 torch.stack([sin / r, cos, zero], -1)], 1)  # (K, 2, 3)
            grid = affine_grid(theta, h, w, align_corners=True)  # (K, H, W, 2)
            src = xs - self.fill if self.fill else xs  # zero padding then reads as ``fill``
            out = F.grid_sample(src, grid, mode=self.interpolation, padding_mode="zeros",
                                align_corners=True)
            return out.add_(self.fill) if self.fill else out

        return on_applied(x, on_host(params, "apply"), rotate)

    def extra_repr(self) -> str:
        return (f"degrees={self.degrees}, fill={self.fill}, interpolation={self.interpolation}, "
                f"p={self.p}")
