"""ROAD faithfulness of heat maps (``medaug.explain.faithfulness``).

Pinned here: ``untie`` keeps the ranking of distinct values, breaks ties (zeros) with a
jitter of at most 1e-6, reproducibly from its seed; ``random_maps`` gives ``(count, size,
size)`` maps in [0, 1] from its seed; ``road_scores`` returns per-image ``morf``, ``lerf`` and
``combined = (lerf - morf) / 2``, is reproducible from its seed, leaves torch's global RNG and
the model's training mode as they were; and on a model that only looks at the top-left
quadrant, the map that marks that quadrant scores clearly higher than its inverse.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from medaug.explain.faithfulness import PERCENTILES, random_maps, road_scores, untie
from medaug.explain.gradcam import LogitTarget, ProbabilityTarget

SIZE = 16
HALF = SIZE // 2


class QuadrantModel(nn.Module):
    """Abnormal logit ``(B, 1)`` = ``weight * (mean of the top-left quadrant - 0.5)``; records
    its training flag at each call."""

    def __init__(self, weight: float = 8.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(weight))
        self.modes: list[bool] = []

    def forward(self, x: Tensor) -> Tensor:
        self.modes.append(self.training)
        h, w = x.shape[-2] // 2, x.shape[-1] // 2
        mean = x[:, :, :h, :w].mean(dim=(1, 2, 3))
        return (self.weight * (mean - 0.5)).unsqueeze(1)


class Broken(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        raise RuntimeError("forward failed")


def quadrant_images(count: int, seed: int = 0) -> Tensor:
    """``(count, 1, SIZE, SIZE)`` in [0, 1]: bright noisy top-left quadrant, dark noise
    elsewhere."""
    g = torch.Generator().manual_seed(seed)
    x = 0.15 + 0.08 * torch.randn(count, 1, SIZE, SIZE, generator=g)
    bright = 0.75 + 0.1 * torch.rand(count, 1, 1, 1, generator=g)
    x[:, :, :HALF, :HALF] = bright + 0.05 * torch.randn(count, 1, HALF, HALF, generator=g)
    return x.clamp(0, 1)


def quadrant_map(count: int) -> np.ndarray:
    heat = np.zeros((count, SIZE, SIZE), np.float32)
    heat[:, :HALF, :HALF] = 1.0
    return heat


# ------------------------------------------------------------------------------- untie


def test_untie_keeps_order_of_distinct_values() -> None:
    rng = np.random.default_rng(0)
    heat = np.stack([rng.permutation(SIZE * SIZE).reshape(SIZE, SIZE) / (SIZE * SIZE)
                     for _ in range(3)]).astype(np.float32)  # distinct, 1/256 apart
    out = untie(heat, seed=5)
    assert out.shape == heat.shape
    assert out.dtype == np.float64  # float32 would swallow a 1e-6 jitter away from 0
    for before, after in zip(heat, out, strict=True):
        np.testing.assert_array_equal(np.argsort(after, axis=None), np.argsort(before, axis=None))


def test_untie_breaks_ties_of_an_all_zero_map() -> None:
    heat = np.zeros((2, SIZE, SIZE), np.float32)
    out = untie(heat, seed=0)
    for m in out:
        assert len(np.unique(m)) == SIZE * SIZE
    assert (out >= 0).all()


@pytest.mark.parametrize("value", [0.5, 1.0])
def test_untie_breaks_ties_away_from_zero(value: float) -> None:
    heat = np.full((1, SIZE, SIZE), value, np.float32)
    out = untie(heat, seed=0)
    assert len(np.unique(out)) == SIZE * SIZE


def test_untie_jitter_is_tiny() -> None:
    rng = np.random.default_rng(1)
    heat = rng.random((4, SIZE, SIZE)).astype(np.float32)
    heat[:, :4] = 0.0
    out = untie(heat, seed=2)
    diff = out.astype(np.float64) - heat.astype(np.float64)
    assert np.abs(diff).max() <= 1.1e-6
    assert np.abs(diff).max() > 0


def test_untie_is_deterministic_for_a_seed() -> None:
    heat = np.zeros((2, 8, 8), np.float32)
    np.testing.assert_array_equal(untie(heat, seed=7), untie(heat, seed=7))
    assert not np.array_equal(untie(heat, seed=7), untie(heat, seed=8))


def test_untie_leaves_its_input_alone() -> None:
    heat = np.zeros((1, 8, 8), np.float32)
    untie(heat, seed=0)
    assert not heat.any()


# ------------------------------------------------------------------------- random_maps


def test_random_maps_shape_and_range() -> None:
    maps = random_maps(5, SIZE, grid=4, seed=0)
    assert maps.shape == (5, SIZE, SIZE)
    assert maps.dtype == np.float32
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    # noise, not a constant: every map varies over the image
    assert (maps.reshape(5, -1).std(axis=1) > 0.01).all()


def test_random_maps_seeded() -> None:
    a = random_maps(3, SIZE, grid=4, seed=11)
    np.testing.assert_array_equal(a, random_maps(3, SIZE, grid=4, seed=11))
    assert not np.allclose(a, random_maps(3, SIZE, grid=4, seed=12))
    assert not np.allclose(a[0], a[1])


def test_random_maps_count_zero() -> None:
    maps = random_maps(0, SIZE, grid=4, seed=0)
    assert maps.shape == (0, SIZE, SIZE)


# ------------------------------------------------------------------------- road_scores


def test_road_scores_shapes_and_combined() -> None:
    model = QuadrantModel()
    x = quadrant_images(3)
    heat = random_maps(3, SIZE, grid=4, seed=0)
    out = road_scores(model, x, heat, [ProbabilityTarget(1)] * 3, percentiles=(20, 50, 80))
    assert set(out) == {"morf", "lerf", "combined"}
    for key in ("morf", "lerf", "combined"):
        assert out[key].shape == (3,)
        assert np.isfinite(out[key]).all()
    np.testing.assert_allclose(out["combined"], (out["lerf"] - out["morf"]) / 2)
    # a probability changes by at most 1
    assert (np.abs(out["morf"]) <= 1).all() and (np.abs(out["lerf"]) <= 1).all()


def test_road_scores_deterministic_for_a_seed() -> None:
    model = QuadrantModel()
    x = quadrant_images(2, seed=1)
    heat = random_maps(2, SIZE, grid=4, seed=1)
    targets = [ProbabilityTarget(1)] * 2
    first = road_scores(model, x, heat, targets, percentiles=(30, 70), seed=4)
    again = road_scores(model, x, heat, targets, percentiles=(30, 70), seed=4)
    other = road_scores(model, x, heat, targets, percentiles=(30, 70), seed=5)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert not np.array_equal(first["morf"], other["morf"])


def test_road_scores_leave_global_rng_alone() -> None:
    model = QuadrantModel()
    x = quadrant_images(2)
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    road_scores(model, x, quadrant_map(2), [ProbabilityTarget(1)] * 2, percentiles=(50,),
                seed=9)
    assert torch.equal(torch.get_rng_state(), before)
    # the next draw is the one the seed would give without the call
    drawn = torch.rand(4)
    torch.manual_seed(1234)
    torch.testing.assert_close(drawn, torch.rand(4), rtol=0, atol=0)


@pytest.mark.parametrize("training", [True, False])
def test_road_scores_restore_training_mode(training: bool) -> None:
    model = QuadrantModel()
    model.train(training)
    road_scores(model, quadrant_images(2), quadrant_map(2), [ProbabilityTarget(1)] * 2,
                percentiles=(50,))
    assert model.training is training
    assert model.modes and not any(model.modes)  # scored in eval mode


def test_road_scores_restore_training_mode_on_error() -> None:
    model = Broken().train()
    with pytest.raises(RuntimeError, match="forward failed"):
        road_scores(model, quadrant_images(1), quadrant_map(1), [LogitTarget(1)],
                    percentiles=(50,))
    assert model.training


# ------------------------------------------------------------------------- faithfulness


def test_road_prefers_the_map_of_the_pixels_the_model_uses() -> None:
    count = 4
    model = QuadrantModel(weight=8.0)
    x = quadrant_images(count, seed=3)
    with torch.no_grad():
        probs = torch.sigmoid(model(x)[:, 0])
    assert ((probs > 0.6) & (probs < 0.99)).all()  # confident but not saturated

    targets = [ProbabilityTarget(1)] * count
    right = road_scores(model, x, quadrant_map(count), targets, PERCENTILES, seed=0)
    inverted = road_scores(model, x, 1.0 - quadrant_map(count), targets, PERCENTILES, seed=0)

    # removing the quadrant first lowers the abnormal probability a lot ...
    assert (right["morf"] < -0.1).all()
    # ... removing the rest first hardly matters
    assert right["lerf"].mean() > right["morf"].mean() + 0.2
    # the faithful map beats its inverse clearly, image by image and on average
    assert right["combined"].mean() > 0.1
    assert inverted["combined"].mean() < 0
    assert right["combined"].mean() > inverted["combined"].mean() + 0.2
    assert (right["combined"] > inverted["combined"]).all()
    # and beats maps that rank pixels at random
    shuffled = road_scores(model, x, random_maps(count, SIZE, grid=4, seed=0), targets,
                           PERCENTILES, seed=0)
    assert (right["combined"] > shuffled["combined"]).all()


def test_heat_centre_finds_the_quadrant_and_leaves_empty_maps_out() -> None:
    from medaug.explain.faithfulness import heat_centre

    heat = np.zeros((3, 8, 8), np.float32)
    heat[0, :4, :4] = 1  # top-left quadrant: centre at (0.25, 0.25)
    heat[1, 6, 1] = 2  # one pixel: its centre
    rows, cols = heat_centre(heat)
    np.testing.assert_allclose(rows[:2], [0.25, 6.5 / 8])
    np.testing.assert_allclose(cols[:2], [0.25, 1.5 / 8])
    assert np.isnan(rows[2]) and np.isnan(cols[2])  # empty map
