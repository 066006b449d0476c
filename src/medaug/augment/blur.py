"""Gaussian blur with a per-sample sigma (SimCLR, Chen et al. 2020, Appendix A)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from medaug.augment.base import Op, Params, as_range, on_applied, on_host, scaled, uniform
from medaug.augment.registry import register_op
from medaug.errors import AugmentError


def gaussian_kernels(sigma: Tensor, size: int) -> Tensor:
    """Normalised 1-D Gaussian kernels ``(K, size)`` for standard deviations ``sigma`` ``(K,)``."""
    taps = torch.arange(size, dtype=sigma.dtype, device=sigma.device) - size // 2  # (size,)
    k = torch.exp(-(taps**2) / (2 * sigma[:, None] ** 2))  # (K, size)
    return k / k.sum(dim=1, keepdim=True)


def separable_gaussian(x: Tensor, sigma: Tensor, size: int) -> Tensor:
    """Blur each image of ``x`` ``(K, C, H, W)`` with its own Gaussian (``sigma`` ``(K,)``,
    odd kernel side ``size``, reflect borders): one pass along W, one along H, each a sum of
    ``size`` shifted, weighted copies. Returns ``(K, C, H, W)``.

    Equal to kornia's ``gaussian_blur2d`` (checked in the tests); written out because kornia's
    per-call overhead dominated on the CPU for the small subsets a ``p < 1`` blur sees.
    """
    r = size // 2
    k = gaussian_kernels(sigma.to(x.dtype), size).view(-1, 1, 1, 1, size)  # (K, 1, 1, 1, size)
    h, w = x.shape[-2:]
    xp = F.pad(x, (r, r, 0, 0), mode="reflect")  # (K, C, H, W + 2r)
    out = xp[..., 0:w] * k[..., 0]
    for i in range(1, size):
        out.add_(xp[..., i : i + w] * k[..., i])
    xp = F.pad(out, (0, 0, r, r), mode="reflect")  # (K, C, H + 2r, W)
    out = xp[..., 0:h, :] * k[..., 0]
    for i in range(1, size):
        out.add_(xp[..., i : i + h, :] * k[..., i])
    return out


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

        applied = on_host(params, "sigma")[on_host(params, "apply")]  # (K,), on the CPU
        # One kernel size per image size (not per batch), so a sample's result does not
        # depend on the other samples' sigmas (unless fixed parameters exceed the range).
        smax = max(scaled(self.sigma[1], x.shape[-2]),
                   float(applied.max()) if applied.numel() else 0.0)

        def blur(xs: Tensor, sel: Tensor | slice) -> Tensor:
            sigma = params["sigma"][sel].to(xs.dtype)  # (K,)
            ks = self.kernel_size or max(3, 2 * math.ceil(3 * smax) + 1)
            ks = min(ks, 2 * min(xs.shape[-2:]) - 1)  # reflect padding needs pad < side
            return separable_gaussian(xs, sigma, ks)

        return on_applied(x, on_host(params, "apply"), blur)

    def at_size(self, size: int) -> str:
        lo, hi = scaled(self.sigma[0], size), scaled(self.sigma[1], size)
        return f"sigma {lo:.2g}-{hi:.2g} px at {size} px"

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, kernel_size={self.kernel_size}, p={self.p}"
