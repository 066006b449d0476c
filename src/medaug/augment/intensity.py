"""Grayscale intensity jitter: gamma, contrast and brightness (no colour ops)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from medaug.augment.base import Op, Params, as_range, uniform
from medaug.augment.registry import register_op
from medaug.errors import AugmentError


@register_op("intensity")
class Intensity(Op):
    """Per-sample gamma, contrast and brightness, in that order, clamped to ``[0, 1]``.

    ``y = clamp(((x ** g) - m) * c + m + b, 0, 1)`` with ``m`` the mean of ``x ** g`` over the
    image, ``g`` log-uniform in ``gamma``, ``c`` uniform in ``[1 - contrast, 1 + contrast]`` and
    ``b`` uniform in ``[-brightness, brightness]``.

    Args:
        brightness: largest additive shift, ``>= 0``.
        contrast: largest relative change of contrast, in ``[0, 1]``.
        gamma: range of the gamma exponent, positive; drawn log-uniformly.
        p: probability of changing each sample.

    Params: ``brightness``, ``contrast``, ``gamma``, ``(B,)`` float.
    """

    def __init__(self, brightness: float = 0.1, contrast: float = 0.2,
                 gamma: float | tuple[float, float] = (0.8, 1.25), p: float = 0.8) -> None:
        super().__init__(p)
        if not 0.0 <= float(brightness) <= 1.0:
            raise AugmentError(f"intensity: brightness must be in [0, 1], got {brightness}")
        if not 0.0 <= float(contrast) <= 1.0:
            raise AugmentError(f"intensity: contrast must be in [0, 1], got {contrast}")
        self.gamma = as_range(gamma)
        if not 0.0 < self.gamma[0] <= self.gamma[1]:
            raise AugmentError(f"intensity: gamma must be a range 0 < lo <= hi, got {gamma}")
        self.brightness, self.contrast = float(brightness), float(contrast)

    def sample_params(self, batch: int, height: int, width: int, generator: torch.Generator
                      ) -> Params:
        b, c = self.brightness, self.contrast
        return {
            "brightness": uniform(generator, (batch,), -b, b),
            "contrast": uniform(generator, (batch,), 1.0 - c, 1.0 + c),
            "gamma": torch.exp(uniform(generator, (batch,), *map(math.log, self.gamma))),
        }

    def apply(self, x: Tensor, params: Params) -> Tensor:
        """Jitter ``x`` ``(B, 1, H, W)`` with ``params``; unapplied samples are unchanged."""

        def p(k: str) -> Tensor:
            return params[k].to(x.dtype).view(-1, 1, 1, 1)

        y = x.clamp(0.0, 1.0).pow_(p("gamma"))
        m = y.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
        y.sub_(m).mul_(p("contrast")).add_(m + p("brightness")).clamp_(0.0, 1.0)
        return torch.where(params["apply"].view(-1, 1, 1, 1), y, x)

    def extra_repr(self) -> str:
        return (f"brightness={self.brightness}, contrast={self.contrast}, gamma={self.gamma}, "
                f"p={self.p}")
