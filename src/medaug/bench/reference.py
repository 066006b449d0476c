"""The original study's per-image augmentation pipeline, as the baseline of ``bench augment``.

Per image with PIL and torchvision: resize to 256, random rotation of +-10 degrees, random
horizontal flip, Gaussian blur (kernel 3, sigma in [1, 2]) with probability 0.2, the
chessboard distortion written as a Python loop over 20 px cells with cyclic shifts of +-5 px,
to tensor, normalise. Kept deliberately close to how such code is usually written; it is the
thing medaug's batched pipeline is measured against, not part of medaug's own path.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from PIL import Image
from torchvision import transforms


class LoopChessboard:
    """Cyclic shift of each ``cell`` x ``cell`` block by a random (dy, dx) in +-``shift``."""

    def __init__(self, cell: int = 20, shift: int = 5) -> None:
        self.cell, self.shift = cell, shift

    def __call__(self, img: Image.Image) -> Image.Image:
        arr = np.array(img)
        h, w = arr.shape[:2]
        for y in range(0, h, self.cell):
            for x in range(0, w, self.cell):
                dy = random.randint(-self.shift, self.shift)
                dx = random.randint(-self.shift, self.shift)
                block = arr[y : y + self.cell, x : x + self.cell]
                arr[y : y + self.cell, x : x + self.cell] = np.roll(block, (dy, dx), axis=(0, 1))
        return Image.fromarray(arr)


def reference_pipeline(resize: int = 256) -> transforms.Compose:
    """The per-image pipeline (one call makes one view of one PIL image)."""
    return transforms.Compose([
        transforms.Resize(resize),
        transforms.RandomRotation(10),
        transforms.RandomHorizontalFlip(),
        transforms.RandomApply([transforms.GaussianBlur(3, sigma=(1.0, 2.0))], p=0.2),
        LoopChessboard(20, 5),
        transforms.ToTensor(),
        transforms.Normalize([0.5], [0.5]),
    ])


def reference_two_views(images: list[Image.Image], pipeline: transforms.Compose
                        ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Two independently augmented views of every image, one image at a time."""
    return [(pipeline(img), pipeline(img)) for img in images]
