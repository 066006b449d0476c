"""A tiny backbone and method factory that keep the method tests fast on the CPU."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from medaug.augment import TwoViews, build_pipeline
from medaug.methods import SSLMethod, create_method


class TinyBackbone(nn.Module):
    """Flatten + Linear: ``(B, 1, S, S)`` to ``(B, feature_dim)``."""

    def __init__(self, size: int = 16, feature_dim: int = 32) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(size * size, feature_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def tiny_method(name: str, size: int = 16, pipeline: str = "flip", seed: int = 0,
                **kwargs: Any) -> SSLMethod:
    """``name`` on a :class:`TinyBackbone` with small heads (weights seeded by ``seed``)."""
    torch.manual_seed(seed)
    heads: dict[str, Any] = {"proj_dim": 16, "proj_hidden": 32}
    if name == "simclr":
        heads["temperature"] = 0.2
    heads.update(kwargs)
    views = TwoViews(build_pipeline(pipeline))
    return create_method(name, backbone=TinyBackbone(size), views=views, seed=seed, **heads)


def uint8_batch(batch: int = 8, size: int = 16, seed: int = 0) -> Tensor:
    """Random ``uint8`` images ``(batch, size, size)`` as the cache stores them."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, size, size), generator=g, dtype=torch.uint8)


def float_views(batch: int = 8, size: int = 16, seed: int = 0, noise: float = 0.1
                ) -> tuple[Tensor, Tensor]:
    """Two fixed float views ``(batch, 1, size, size)`` in ``[0, 1]``: random images and the
    same images with Gaussian noise of std ``noise``."""
    g = torch.Generator().manual_seed(seed)
    v1 = torch.rand((batch, 1, size, size), generator=g)
    v2 = (v1 + noise * torch.randn(v1.shape, generator=g)).clamp(0, 1)
    return v1, v2
