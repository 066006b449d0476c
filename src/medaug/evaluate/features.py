"""Frozen forward passes: a backbone's features for rows of a cache, and a disk cache of them
keyed by the encoder's weights and the data's fingerprint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from medaug.atomic import save_npy
from medaug.paths import cache_dir


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


def cached_features(backbone: nn.Module, weights_sha256: str, images: np.ndarray,
                    data_fingerprint: str, batch_size: int = 256,
                    device: torch.device | str | None = None, root: Path | None = None
                    ) -> tuple[np.ndarray, bool]:
    """Features ``(N, D)`` float32 of *every* row of a cache's ``images`` ``(N, S, S)``, read
    from ``<cache root>/features/`` when this encoder (``weights_sha256``) already ran on this
    data (``data_fingerprint``), else extracted and stored (through a temporary file renamed
    into place). Returns the features and whether they came from disk."""
    folder = (Path(root) if root is not None else cache_dir()) / "features"
    path = folder / f"{weights_sha256[:16]}-{data_fingerprint[:16]}-{images.shape[-1]}.npy"
    if path.is_file():
        stored = np.load(path)
        if stored.shape[0] == len(images):
            return stored, True
    folder.mkdir(parents=True, exist_ok=True)
    feats = extract_features(backbone, images, np.arange(len(images)), batch_size,
                             device).numpy().astype(np.float32)
    save_npy(path, feats)
    return feats, False
