"""Gaussian blur with a per-sample sigma (SimCLR, Chen et al. 2020, Appendix A)."""

from __future__ import annotations

import math

import torch
from kornia.filters import gaussian_blur2d
from torch import Tensor

from medaug.augment.base import Op, Params, as_range, on_applied, scaled, uniform
from medaug.augment.registry import register_op
from medaug.errors import AugmentError


@register_op("blur")
class Blur(Op):
    """Blur each image with its own isotropic Gaussian.

    Args:
        sigma: standard deviation in px at 224 px, a range ``(lo, hi)`` drawn uniformly per
            sample (or one number); scaled by ``H / 224``.
        kernel_size: odd kernel side; ``None`` takes the smallest odd size covering
            ``3 * sigma`` either side of the centre for the largest (scaled) sigma of the range
            (at least 3).
        p: probability of blurring each sample.

    Params: ``sigma`` ``(B,)`` in px at the image's own size.
    """

    def __init__(self, sigma: float | tuple[float, float] = (0.1, 2.0),
                 kernel_size: int | None = None, p: float = 0.5) -> None:
        super().__init__(p)
        self.sigma = as_range(sigma)
        if not 0.0 < self.sigma[0] <= self.sigma[1]:
            raise AugmentError(f"blur: sigma must be a range 0 < lo <= hi, got {sigma}")
        if kernel_size is not None and (int(kernel_size) != kernel_size or kernel_size < 3
                                        or kernel_size % 2 == 0):
            raise AugmentError(f"blur: kernel_size must be an odd integer >= 3, got {kernel_size}")
        self.kernel_size = None if kernel_size is None else int(kernel_size)

    def sample_params(self, batch: int, height: int, width: int, generator: torch.Generator
                      ) -> Params:
        lo, hi = scaled(self.sigma[0], height), scaled(self.sigma[1], height)
        return {"sigma": uniform(generator, (batch,), lo, hi)}

    def apply(self, x: Tensor, params: Params) -> Tensor:
        """Blur ``x`` ``(B, 1, H, W)`` with ``params["sigma"]`` ``(B,)`` (reflect borders)."""

        def blur(xs: Tensor, sel: Tensor | slice) -> Tensor:
            sigma = params["sigma"][sel].to(xs.dtype)  # (K,)
            # One kernel size per image size (not per batch), so a sample's result does not
            # depend on the other samples' sigmas.
            smax = max(scaled(self.sigma[1], xs.shape[-2]), float(sigma.max()))
            ks = self.kernel_size or max(3, 2 * math.ceil(3 * smax) + 1)
            ks = min(ks, 2 * min(xs.shape[-2:]) - 1)  # reflect padding needs pad < side
            return gaussian_blur2d(xs, ks, sigma[:, None].expand(-1, 2))

        return on_applied(x, params["apply"], blur)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, kernel_size={self.kernel_size}, p={self.p}"
