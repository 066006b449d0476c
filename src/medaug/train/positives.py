"""Positive pairs from two images of one patient or study (MICLe, Azizi et al. 2021, "Big
Self-Supervised Models Advance Medical Image Classification"): the second view of an image is
drawn from *another* image of the same patient (or study) when it has one, else from the
image itself. Both images still go through the ops (:class:`medaug.augment.views.MultiViews`
draws view ``j`` from image ``j mod 2``).

When is it sound? The pair must show the same finding for "these two are alike" to be the
right lesson: two views of one MURA study (the study carries one label) or two films of one
patient taken together are; follow-ups months apart after treatment, or a chest set where one
patient has a normal and a pneumonia film, teach the encoder to ignore what changed between
them — exactly the pathology. Prefer ``study`` where studies exist; check with the label
(after the fact) how often pairs disagree: :func:`partner_table` counts them.

Labels are never used to make the pairs: only the grouping column.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import Dataset, DistributedSampler

from medaug.errors import ConfigError

#: ``--positives`` choices and the manifest column that groups the images of each.
POSITIVES = {"image": None, "study": "study_id", "patient": "patient_id"}


@dataclass(frozen=True)
class Partners:
    """For each training row (by position), the positions of the other rows of its group.

    Attributes:
        offsets: ``(N + 1,)``; the partners of position ``i`` are
            ``members[offsets[i]:offsets[i + 1]]`` (empty: no other image, the image is its
            own partner).
        members: concatenated partner positions.
    """

    offsets: np.ndarray
    members: np.ndarray

    def of(self, i: int) -> np.ndarray:
        """Partner positions of position ``i`` (never ``i`` itself)."""
        return self.members[self.offsets[i]:self.offsets[i + 1]]

    @property
    def paired(self) -> int:
        """How many positions have at least one partner."""
        return int((np.diff(self.offsets) > 0).sum())


def partner_table(groups: np.ndarray) -> Partners:
    """The :class:`Partners` of rows whose group (patient or study id) is ``groups`` ``(N,)``."""
    groups = pd.Series(np.asarray(groups)).astype(str)
    by_group = groups.groupby(groups, sort=False).indices  # group -> its positions, ascending
    offsets = [0]
    members: list[np.ndarray] = []
    for i, g in enumerate(groups):
        others = by_group[g]
        others = others[others != i]
        members.append(others)
        offsets.append(offsets[-1] + len(others))
    flat = np.concatenate(members) if members else np.zeros(0, dtype=np.int64)
    return Partners(np.asarray(offsets, dtype=np.int64), flat.astype(np.int64))


def grouping(frame: pd.DataFrame, positives: str) -> np.ndarray | None:
    """The group of every manifest row for ``positives`` (``None`` for ``image``).

    Raises:
        ConfigError: an unknown choice, or a manifest without the column.
    """
    if positives not in POSITIVES:
        raise ConfigError(f"pretrain: positives must be one of {', '.join(POSITIVES)}, got "
                          f"{positives!r}")
    column = POSITIVES[positives]
    if column is None:
        return None
    if column not in frame.columns:
        raise ConfigError(f"pretrain: --positives {positives} needs a {column} column, which "
                          "this dataset does not have")
    return frame[column].to_numpy()


class PairedImages(Dataset[Tensor]):
    """Rows ``indices`` of a cache's images ``(N, S, S)`` uint8, each with a partner: item
    ``(i, epoch)`` is ``(2, S, S)``, the image and an image of its group drawn by a generator
    seeded by ``(seed, epoch, i)`` (so a resumed run, and every DDP process, draws the same
    pairs), or the image twice when its group holds no other image."""

    def __init__(self, images: np.ndarray, indices: np.ndarray, partners: Partners,
                 seed: int = 0) -> None:
        self.images = images
        self.indices = np.asarray(indices, dtype=np.int64)
        self.partners = partners
        self.seed = int(seed)
        if len(partners.offsets) != len(self.indices) + 1:
            raise ValueError(f"partners of {len(partners.offsets) - 1} rows for "
                             f"{len(self.indices)} images")

    def __len__(self) -> int:
        return len(self.indices)

    def partner(self, i: int, epoch: int) -> int:
        """The position paired with position ``i`` in ``epoch``."""
        others = self.partners.of(i)
        if len(others) == 0:
            return i
        rng = np.random.default_rng([self.seed, int(epoch), int(i)])
        return int(others[rng.integers(len(others))])

    def __getitem__(self, item: tuple[int, int]) -> Tensor:
        i, epoch = item
        j = self.partner(i, epoch)
        pair = np.stack([self.images[self.indices[i]], self.images[self.indices[j]]])
        return torch.from_numpy(pair)  # (2, S, S) uint8


class EpochSampler(DistributedSampler):
    """:class:`DistributedSampler` that yields ``(index, epoch)``, so that a dataset can draw
    per-epoch choices (the partners of :class:`PairedImages`) reproducibly."""

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        epoch = self.epoch
        return ((int(i), epoch) for i in super().__iter__())
