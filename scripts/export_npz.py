"""Export a dataset's cache as a MedMNIST-style ``.npz`` ({train,val,test}_{images,labels})
for a machine without the raw images (scripts/gpu_prepare.sh). Usage:
``python scripts/export_npz.py DATA SIZE OUT.npz`` (CLAHE off: a study's factor applies it)."""

from __future__ import annotations

import sys

import numpy as np

from medaug.data.open import open_dataset
from medaug.data.preprocess import PreprocessConfig


def main(data: str, size: int, out: str) -> None:
    cache = open_dataset(data, preprocess=PreprocessConfig(size=size, clahe=False))
    arrays = {}
    for split in ("train", "val", "test"):
        rows = cache.split_indices(split)
        arrays[f"{split}_images"] = np.stack([cache.images[i] for i in rows])  # (n, S, S)
        labels = cache.manifest.frame["label"].to_numpy()[rows].astype(np.int64)
        arrays[f"{split}_labels"] = labels.reshape(-1, 1)  # (n, 1)
    np.savez_compressed(out, **arrays)
    print(out, {k: v.shape for k, v in arrays.items()})


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
