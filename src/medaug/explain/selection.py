"""Which images the panel shows: the same test images for every model, chosen reproducibly
to mix the first model's true positives, false negatives, false positives and true negatives,
or the images a user names by path."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from medaug.errors import ConfigError

#: Outcome names, in the order the panel cycles through them.
OUTCOMES: tuple[str, ...] = ("TP", "FN", "FP", "TN")


def outcomes(labels: np.ndarray, probs: np.ndarray, threshold: float) -> np.ndarray:
    """``"TP"``, ``"FN"``, ``"FP"`` or ``"TN"`` ``(N,)`` of labels ``(N,)`` (1 = abnormal) and
    probabilities ``(N,)`` called abnormal at ``probs >= threshold``."""
    y = np.asarray(labels).astype(int)
    called = np.asarray(probs) >= threshold
    return np.where(y == 1, np.where(called, "TP", "FN"), np.where(called, "FP", "TN"))


def mixed_rows(rows: np.ndarray, kinds: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` of ``rows`` (or all of them when fewer): one of each outcome in turn (TP, FN,
    FP, TN, TP, ...), each drawn at random from ``seed`` within its outcome; an outcome that
    runs out is skipped."""
    rng = np.random.default_rng(seed)
    rows, kinds = np.asarray(rows), np.asarray(kinds)
    unknown = sorted(set(kinds.tolist()) - set(OUTCOMES))
    if unknown:
        raise ValueError(f"outcomes must be among {', '.join(OUTCOMES)}, got {unknown}")
    pools = [list(rng.permutation(rows[kinds == kind])) for kind in OUTCOMES]
    picked: list[int] = []
    while len(picked) < min(count, len(rows)):
        for pool in pools:
            if pool and len(picked) < count:
                picked.append(int(pool.pop(0)))
    return np.asarray(picked, dtype=np.int64)


def rows_for_paths(frame: pd.DataFrame, paths: Sequence[str], dataset: str) -> np.ndarray:
    """Rows of a manifest ``frame`` whose image is each of ``paths``: the same file, or the
    one path that ends with the given text (e.g. ``KL4/9003430L.png``). Images of array files
    (MedMNIST's ``.npz``) are named ``FILE#INDEX``, ``INDEX`` being the manifest's ``index``.

    Raises:
        ConfigError: a path that names no image of the dataset, or several.
    """
    stored = frame["path"].astype(str).to_numpy()
    index = frame["index"].to_numpy() if "index" in frame.columns else None
    resolved = np.array([_resolved(p) for p in stored])
    out = []
    for given in paths:
        name, hash_, number = given.rpartition("#")
        wanted = int(number) if hash_ and number.isdigit() and index is not None else None
        name = name if wanted is not None else given
        hit = np.flatnonzero(resolved == _resolved(name))
        if len(hit) == 0:
            tail = name.replace("\\", "/").lstrip("./")
            hit = np.flatnonzero([s.replace("\\", "/").endswith("/" + tail) or s == tail
                                  for s in stored])
        if wanted is not None:
            hit = hit[index[hit] == wanted]
        if len(hit) == 0:
            raise ConfigError(f"{given}: not an image of dataset {dataset} (give a path of its "
                              "manifest, or its end, e.g. the class folder and file name)")
        if len(hit) > 1:
            raise ConfigError(f"{given}: matches {len(hit)} images of dataset {dataset}, e.g. "
                              f"{stored[hit[0]]} and {stored[hit[1]]}; give more of the path (or "
                              "FILE#INDEX for an array file)")
        out.append(int(hit[0]))
    return np.asarray(out, dtype=np.int64)


def _resolved(path: str) -> str:
    try:
        return str(Path(path).resolve())
    except (OSError, RuntimeError):
        return path
