"""A few labelled example images of a cache, for pictures (the augmentation preview)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from medaug.data.cache import CachedDataset
from medaug.data.manifest import CLASS_NAMES


def pick_examples(cache: CachedDataset, n: int, seed: int = 0) -> tuple[Tensor, list[str]]:
    """``n`` images alternating normal and abnormal, drawn with ``seed``, as floats in
    ``[0, 1]`` ``(n, S, S)``, and a title per image (``class: file[index]``)."""
    frame = cache.manifest.frame
    rng = np.random.default_rng(seed)
    labels = frame["label"].to_numpy()
    picks = [int(rng.choice(np.flatnonzero(labels == k % 2))) for k in range(n)]
    batch = torch.from_numpy(np.stack([cache.images[i] for i in picks])).float().div(255)
    titles = [f"{CLASS_NAMES[int(frame['label'].iat[i])]}: {Path(frame['path'].iat[i]).name}"
              + (f"[{frame['index'].iat[i]}]" if frame["index"].iat[i] >= 0 else "")
              for i in picks]
    return batch, titles
