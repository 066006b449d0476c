"""The cache's images as batches for Lightning: ``uint8`` ``(B, S, S)`` (pairs ``(B, 2, S, S)``
with positives from another image of the patient or study, :mod:`medaug.train.positives`), no
augmentation here (views are made batched on the training device by the method), labels never
handed out.

Where the images are kept during a run is :mod:`medaug.train.resident`'s choice
(``resident``): on the training device, gathered by index (the loader then hands out
positions), or streamed from the memory map through pinned memory.

The order is a seeded shuffle per epoch (``DistributedSampler`` with ``seed`` and
``set_epoch``, one replica on a single process), so a resumed run reads the batches the
uninterrupted run read, and under DDP every process reads its own share.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from medaug.errors import TrainingError
from medaug.train.positives import EpochSampler, PairedImages, Partners
from medaug.train.resident import (
    Positions,
    ResidentImages,
    check_resident,
    choose_resident,
    train_bytes,
)


class CacheImages(Dataset[Tensor]):
    """Rows ``indices`` of a cache's image array ``(N, S, S)`` uint8, as ``(S, S)`` tensors."""

    def __init__(self, images: np.ndarray, indices: np.ndarray) -> None:
        self.images = images
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Tensor:
        return torch.from_numpy(np.array(self.images[self.indices[i]]))  # (S, S) uint8


class CacheDataModule(L.LightningDataModule):
    """Unlabelled training batches from a cache split.

    Args:
        images: the cache's ``(N, S, S)`` uint8 array (memory-mapped).
        indices: the rows to train on (the train split).
        batch_size: images per process and step (the global batch is this times the number of
            processes).
        seed: seed of the per-epoch shuffle.
        workers: DataLoader worker processes (0 reads in the training process; the memory map
            makes that cheap).
        name: the dataset's name, for error messages.
        partners: the partners of each training row (by position in ``indices``): batches
            become pairs ``(B, 2, S, S)``; ``None``: single images.
        resident: ``auto``, ``on`` or ``off`` (:mod:`medaug.train.resident`): keep the train
            images on the training device and gather batches there.
    """

    def __init__(self, images: np.ndarray, indices: np.ndarray, batch_size: int, seed: int = 0,
                 workers: int = 0, name: str = "dataset", partners: Partners | None = None,
                 resident: str = "off") -> None:
        super().__init__()
        check_resident(resident)
        self.images, self.indices = images, np.asarray(indices, dtype=np.int64)
        self.dataset: Dataset[Tensor] = (CacheImages(images, indices) if partners is None
                                         else PairedImages(images, indices, partners, seed))
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.workers = int(workers)
        self.name = name
        self.resident_choice = resident
        self.resident: ResidentImages | None = None
        check_batch(len(self.dataset), self.batch_size, 1, name)

    def place(self, device: torch.device) -> bool:
        """Decide where the images are kept for training on ``device`` (copying them there
        when resident); returns whether they are resident. Called by :meth:`setup`."""
        nbytes = train_bytes(self.images, len(self.indices))
        if self.resident is None and choose_resident(self.resident_choice, device, nbytes):
            self.resident = ResidentImages(self.images, self.indices, device)
        return self.resident is not None

    def setup(self, stage: str) -> None:
        if self.trainer is not None:
            self.place(self.trainer.strategy.root_device)

    def train_dataloader(self) -> DataLoader[Tensor]:
        world = self.trainer.world_size if self.trainer is not None else 1
        rank = self.trainer.global_rank if self.trainer is not None else 0
        check_batch(len(self.dataset), self.batch_size, world, self.name)
        if self.resident is not None:  # positions only: the images are on the device
            return seeded_loader(Positions(self.dataset), self.batch_size, self.seed,
                                 self.workers, world, rank)
        return seeded_loader(self.dataset, self.batch_size, self.seed, self.workers, world,
                             rank, pin_memory=torch.cuda.is_available())

    def on_after_batch_transfer(self, batch: Tensor, dataloader_idx: int) -> Tensor:
        """A resident run's positions ``(B,)`` (pairs ``(B, 2)``) as its images, gathered on
        the device; a streamed batch as it came."""
        return batch if self.resident is None else self.resident.gather(batch)


def seeded_loader(dataset: Dataset, batch_size: int, seed: int, workers: int = 0,
                  world: int = 1, rank: int = 0, pin_memory: bool = False) -> DataLoader:
    """Full batches of ``dataset`` in a shuffle seeded by ``(seed, epoch)``
    (``DistributedSampler``; Lightning calls ``set_epoch``), process ``rank`` of ``world``
    reading its share: a resumed run reads the batches the uninterrupted run read. Pretraining
    and the supervised baseline share this one loader."""
    paired = isinstance(dataset, PairedImages) or getattr(dataset, "paired", False)
    kind = EpochSampler if paired else DistributedSampler
    sampler = kind(dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed,
                   drop_last=True)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=True,
                      num_workers=workers, persistent_workers=workers > 0,
                      pin_memory=pin_memory)


def check_batch(n_images: int, batch_size: int, world: int, name: str) -> None:
    """Raise :class:`TrainingError` unless every process gets at least one full batch."""
    if n_images == 0:
        raise TrainingError(f"{name}: the training split has no images")
    if batch_size < 2:
        raise TrainingError(f"batch size must be at least 2 (two views need negatives and "
                            f"batch statistics), got {batch_size}")
    if batch_size * world > n_images:
        raise TrainingError(
            f"{name}: batch size {batch_size} x {world} process(es) is larger than the "
            f"{n_images} training images; use --batch-size {max(2, n_images // world)} or less")
