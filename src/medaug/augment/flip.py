"""Horizontal and vertical flips, decided per sample."""

from __future__ import annotations

import torch
from torch import Tensor

from medaug.augment.base import Op, Params, on_host
from medaug.augment.registry import register_op
from medaug.errors import AugmentError


@register_op("flip")
class Flip(Op):
    """Mirror each image left-right and/or top-bottom.

    Each enabled direction is decided independently per sample with probability ``p``; a sample
    counts as applied (``params["apply"]``) when at least one of its flips is drawn.

    Args:
        horizontal: allow left-right flips (along ``W``).
        vertical: allow top-bottom flips (along ``H``).
        p: probability of each enabled flip, per sample.

    Params: ``hflip`` and ``vflip``, ``(B,)`` bool.
    """

    def __init__(self, horizontal: bool = True, vertical: bool = False, p: float = 0.5) -> None:
        super().__init__(p)
        if not (horizontal or vertical):
            raise AugmentError("flip: enable horizontal or vertical (or both)")
        self.horizontal, self.vertical = bool(horizontal), bool(vertical)

    def sample_host(self, x: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
        host = super().sample_host(x, generator)
        host["apply"] = host["hflip"] | host["vflip"]
        return host

    def sample_params(self, batch: int, height: int, width: int, generator: torch.Generator
                      ) -> Params:
        h = torch.rand((batch,), generator=generator) < self.p
        v = torch.rand((batch,), generator=generator) < self.p
        return {"hflip": h & self.horizontal, "vflip": v & self.vertical}

    def apply(self, x: Tensor, params: Params) -> Tensor:
        """Flip ``x`` ``(B, 1, H, W)`` where ``hflip`` / ``vflip`` (and ``apply``) are true."""
        out = x
        for key, dim in (("hflip", -1), ("vflip", -2)):
            if not bool((on_host(params, key) & on_host(params, "apply")).any()):
                continue
            mask = params[key] & params["apply"]  # (B,)
            out = torch.where(mask.view(-1, 1, 1, 1), out.flip(dim), out)
        return out

    def extra_repr(self) -> str:
        return f"horizontal={self.horizontal}, vertical={self.vertical}, p={self.p}"
