"""Random erasing (Zhong et al., "Random Erasing Data Augmentation", AAAI 2020 / arXiv 2017)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from medaug.augment.base import Op, Params, box_ranges, uniform
from medaug.augment.registry import register_op


@register_op("erase")
class Erase(Op):
    """Fill one random rectangle per image with a constant.

    The rectangle's area is a fraction of the image drawn uniformly from ``area`` and its
    aspect (height / width) is drawn log-uniformly from ``aspect``. Where the paper redraws a
    rectangle that does not fit, this op clips its sides to the image (no per-sample retry
    loop), which slightly favours smaller areas for extreme aspects.

    Args:
        area: range of the erased fraction of the image area, within ``(0, 1]``.
        aspect: range of height / width, positive; drawn log-uniformly.
        value: fill value.
        p: probability of erasing in each sample.

    Params: ``top``, ``left``, ``height``, ``width``, ``(B,)`` int64 pixels.
    """

    def __init__(self, area: float | tuple[float, float] = (0.02, 0.2),
                 aspect: float | tuple[float, float] = (0.3, 3.3), value: float = 0.0,
                 p: float = 0.5) -> None:
        super().__init__(p)
        self.area, self.aspect = box_ranges("erase", ("area", "aspect"), area, aspect)
        self.value = float(value)

    def sample_params(self, batch: int, height: int, width: int, generator: torch.Generator
                      ) -> Params:
        area = uniform(generator, (batch,), *self.area) * (height * width)
        aspect = torch.exp(uniform(generator, (batch,), *map(math.log, self.aspect)))
        h = torch.sqrt(area * aspect).round().clamp(1, height).long()
        w = torch.sqrt(area / aspect).round().clamp(1, width).long()
        top = (torch.rand((batch,), generator=generator) * (height - h + 1)).long()
        left = (torch.rand((batch,), generator=generator) * (width - w + 1)).long()
        return {"top": top, "left": left, "height": h, "width": w}

    def apply(self, x: Tensor, params: Params) -> Tensor:
        """Erase the rectangles of ``params`` from ``x`` ``(B, 1, H, W)``."""
        rows = torch.arange(x.shape[-2], device=x.device).view(1, -1, 1)  # (1, H, 1)
        cols = torch.arange(x.shape[-1], device=x.device).view(1, 1, -1)  # (1, 1, W)

        def p(k: str) -> Tensor:
            return params[k].view(-1, 1, 1)

        inside = ((rows >= p("top")) & (rows < p("top") + p("height"))
                  & (cols >= p("left")) & (cols < p("left") + p("width")))  # (B, H, W)
        mask = (inside & p("apply")).unsqueeze(1)  # (B, 1, H, W)
        return x.masked_fill(mask, self.value)

    def extra_repr(self) -> str:
        return f"area={self.area}, aspect={self.aspect}, value={self.value}, p={self.p}"
