"""The training images resident on the training device: the cache's ``uint8`` train rows
copied once (``N x S x S`` bytes: MURA's 37k train images at 224 px are about 1.9 GB), then
every batch gathered there by index, so no image crosses the host-device link after the
first step and the loader only hands out indices.

The loader still draws the same seeded order (:func:`medaug.train.data.seeded_loader`) over
*positions*: a resident run reads exactly the batches a streamed one reads, and a resumed run
the batches the uninterrupted one read. Pairs (``--positives``) hand out ``(position,
partner)`` and gather ``(B, 2, S, S)``.

``resident="auto"`` keeps the images on a CUDA device when they take at most
:data:`DEVICE_SHARE` of its free memory, and streams them from pinned host memory otherwise
(and always on the CPU, where the memory map already is the resident copy); ``on`` copies
them to whatever device trains, the CPU included (into RAM); ``off`` always streams.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from medaug.errors import ConfigError
from medaug.train.positives import PairedImages

#: ``--resident`` choices.
RESIDENT = ("auto", "on", "off")
#: ``auto`` keeps the images on a CUDA device when they fit in this share of its free memory
#: (the rest is the model's, the activations' and the views').
DEVICE_SHARE = 0.25


def check_resident(value: str) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of :data:`RESIDENT`."""
    if value not in RESIDENT:
        raise ConfigError(f"pretrain: resident must be one of {', '.join(RESIDENT)}, got "
                          f"{value!r}")


def fits_on(device: torch.device, nbytes: int, share: float = DEVICE_SHARE) -> bool:
    """Whether ``nbytes`` take at most ``share`` of ``device``'s free memory (CUDA only;
    False for any other device)."""
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    free, _total = torch.cuda.mem_get_info(device)
    return nbytes <= share * free


def choose_resident(value: str, device: torch.device, nbytes: int) -> bool:
    """Whether the images go resident on ``device`` under ``value`` (see the module)."""
    check_resident(value)
    if value == "auto":
        return fits_on(device, nbytes)
    return value == "on"


class Positions(Dataset[Tensor]):
    """The positions ``0..N-1`` of the train rows (items ``()`` int64), or for a
    :class:`PairedImages` source each position with its partner of the epoch (``(2,)``), as
    the dataset of a resident run's loader."""

    def __init__(self, source: Dataset[Tensor]) -> None:
        self.source = source
        self.paired = isinstance(source, PairedImages)

    def __len__(self) -> int:
        return len(self.source)  # type: ignore[arg-type]

    def __getitem__(self, item: int | tuple[int, int]) -> Tensor:
        if self.paired:
            i, epoch = item  # type: ignore[misc]
            return torch.tensor([i, self.source.partner(i, epoch)], dtype=torch.int64)
        return torch.tensor(int(item), dtype=torch.int64)  # type: ignore[arg-type]


class ResidentImages:
    """The train rows ``indices`` of ``images`` ``(N, S, S)`` uint8 as one tensor on
    ``device``; :meth:`gather` turns a batch of positions into images there."""

    def __init__(self, images: np.ndarray, indices: np.ndarray, device: torch.device) -> None:
        rows = np.asarray(indices, dtype=np.int64)
        host = torch.from_numpy(np.ascontiguousarray(images[rows]))  # (N_train, S, S) uint8
        self.images = host.to(device)
        self.device = device

    @property
    def nbytes(self) -> int:
        return self.images.numel() * self.images.element_size()

    def gather(self, positions: Tensor) -> Tensor:
        """Images ``(B, S, S)`` (pairs ``(B, 2, S, S)``) of positions ``(B,)`` (``(B, 2)``)."""
        return self.images[positions.to(self.device, non_blocking=True)]


def train_bytes(images: np.ndarray, n_rows: int) -> int:
    """Bytes of ``n_rows`` images of a cache's ``(N, S, S)`` uint8 array."""
    return int(n_rows) * int(np.prod(images.shape[1:])) * images.dtype.itemsize
