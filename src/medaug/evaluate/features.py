"""Frozen forward passes: a backbone's features for rows of a cache."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn


@torch.no_grad()
def extract_features(backbone: nn.Module, images: np.ndarray, indices: np.ndarray,
                     batch_size: int = 256, device: torch.device | str | None = None) -> Tensor:
    """Features ``(N, D)`` (float32, on the CPU) of rows ``indices`` of ``images``
    ``(M, S, S)`` uint8, with the backbone in eval mode (its mode is restored afterwards)."""
    device = torch.device(device) if device is not None else next(backbone.parameters()).device
    was_training = backbone.training
    backbone.eval()
    out = []
    try:
        for start in range(0, len(indices), batch_size):
            x = torch.from_numpy(np.asarray(images[indices[start:start + batch_size]]))
            x = x.to(device)
            x = x.float().div_(255).unsqueeze(1)  # (b, 1, S, S)
            with torch.autocast(device.type, enabled=False):
                f = backbone(x).float()
            out.append(f.cpu())
    finally:
        backbone.train(was_training)
    if not out:
        return torch.zeros(0, 0)
    return torch.cat(out)
