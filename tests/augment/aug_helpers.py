"""Tiny synthetic batches and seeded generators for the augmentation tests."""

from __future__ import annotations

import torch
from torch import Tensor


def noise(batch: int = 4, size: int | tuple[int, int] = 32, seed: int = 0,
          dtype: torch.dtype = torch.float32) -> Tensor:
    """Uniform noise ``(batch, 1, H, W)`` in ``[0, 1]``: not symmetric, not constant."""
    h, w = (size, size) if isinstance(size, int) else size
    g = torch.Generator().manual_seed(seed)
    return torch.rand((batch, 1, h, w), generator=g).to(dtype)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
