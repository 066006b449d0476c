"""How faithful a heat map is to the model: ROAD (Rong et al. 2022, "A Consistent and
Efficient Evaluation Strategy for Attribution Methods"), with pytorch-grad-cam's metrics.

For each percentile ``q`` the pixels above (MoRF) or below (LeRF) the heat map's ``q``-th
percentile are replaced by noisy linear imputation from their neighbours, and the change of the
target probability is measured. A faithful map makes removing its most relevant pixels hurt
(MoRF change very negative) and its least relevant ones harmless (LeRF change near 0):
``combined = (LeRF - MoRF) / 2``, higher is better. Maps whose ranking is random give about
0, so every model is also scored with random maps on the same images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch
from pytorch_grad_cam.metrics.road import (
    ROADLeastRelevantFirstAverage,
    ROADMostRelevantFirstAverage,
)
from torch import Tensor, nn

#: Percentiles of the heat map at which pixels are removed (pytorch-grad-cam's default).
PERCENTILES: tuple[int, ...] = (10, 20, 30, 40, 50, 60, 70, 80, 90)


def untie(heat: np.ndarray, seed: int = 0) -> np.ndarray:
    """``heat`` ``(B, S, S)`` as float64 with ties broken at random (a jitter below 1e-6, kept
    in float64 so that ties at any value are broken): the removal masks threshold at
    percentiles, and a map with many equal values (zeros after Grad-CAM's ReLU) would
    otherwise remove all or none of them at once."""
    rng = np.random.default_rng(seed)
    return heat.astype(np.float64) + 1e-6 * rng.random(heat.shape)


def road_scores(model: nn.Module, x: Tensor, heat: np.ndarray, targets: list[Any],
                percentiles: Sequence[int] = PERCENTILES, seed: int = 0
                ) -> dict[str, np.ndarray]:
    """ROAD of heat maps ``heat`` ``(B, S, S)`` for images ``x`` ``(B, 1, S, S)`` in [0, 1]:
    per image the mean change of the target's value over ``percentiles`` when the most
    (``morf``) and least (``lerf``) relevant pixels are removed, and ``combined``. The
    imputation noise is drawn from ``seed`` (the global torch generator is left as it was)."""
    device = next(model.parameters()).device
    x = x.detach().float().to(device)
    maps = untie(heat, seed)
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(seed)
            morf = ROADMostRelevantFirstAverage(list(percentiles))(x, maps, targets, model)
            lerf = ROADLeastRelevantFirstAverage(list(percentiles))(x, maps, targets, model)
    finally:
        model.train(was_training)
    morf, lerf = np.asarray(morf, np.float64).reshape(-1), np.asarray(lerf, np.float64).reshape(-1)
    return {"morf": morf, "lerf": lerf, "combined": (lerf - morf) / 2}


def random_maps(count: int, size: int, grid: int, seed: int = 0) -> np.ndarray:
    """``count`` random heat maps ``(count, size, size)`` in [0, 1]: uniform noise on a
    ``grid`` x ``grid`` lattice (the target layer's resolution) resized bilinearly, so they
    are as smooth as a heat map and rank pixels at random."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((count, max(grid, 1), max(grid, 1))).astype(np.float32)
    return np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_LINEAR)
                     for c in coarse]) if count else np.zeros((0, size, size), np.float32)


def heat_centre(heat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre of mass of each heat map ``(B, H, W)``: its row and column ``(B,)`` as fractions
    of the image (0 = top / left edge, 1 = bottom / right edge); NaN for an empty map."""
    h, w = heat.shape[-2:]
    ys = (np.arange(h) + 0.5) / h
    xs = (np.arange(w) + 0.5) / w
    mass = heat.reshape(len(heat), -1).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rows = np.where(mass > 0, heat.sum(axis=2) @ ys / mass, np.nan)
        cols = np.where(mass > 0, heat.sum(axis=1) @ xs / mass, np.nan)
    return rows, cols
