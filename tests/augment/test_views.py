from __future__ import annotations

import torch
from aug_helpers import gen, noise

from medaug.augment import TwoViews, build_pipeline


def test_views_are_two_sequential_draws_from_the_original() -> None:
    pipe = build_pipeline("crop+rotate+flip+chessboard")
    x = noise(6)
    v1, v2 = TwoViews(pipe)(x, gen(11))
    g = gen(11)
    assert torch.equal(v1, pipe(x, g))
    assert torch.equal(v2, pipe(x, g))
    assert v1.shape == v2.shape == x.shape
    assert not torch.equal(v1, v2)
    # every sample differs between the views (its own parameters in each view)
    assert (v1 != v2).flatten(1).any(1).all()


def test_second_view_is_not_derived_from_the_first() -> None:
    # A fixed 90-degree rotation: each view of the original is rot90(x); a view made from
    # the other view would be rotated by 180 degrees.
    x = noise(3, 17)
    v1, v2 = TwoViews(build_pipeline("rotate(degrees=90-90)"))(x, gen())
    rot90 = torch.rot90(x, 1, dims=(-2, -1))
    torch.testing.assert_close(v1, rot90, atol=1e-5, rtol=0)
    torch.testing.assert_close(v2, rot90, atol=1e-5, rtol=0)
    assert (v2 - torch.rot90(x, 2, dims=(-2, -1))).abs().max() > 0.5


def test_asymmetric_pipelines() -> None:
    x = noise(4)
    views = TwoViews(build_pipeline("none"), build_pipeline("erase(p=1)"))
    v1, v2 = views(x, gen())
    assert torch.equal(v1, x)
    assert (v2 != x).flatten(1).any(1).all()
    assert "erase" in repr(views)


def test_unseeded_views() -> None:
    x = noise(2)
    v1, v2 = TwoViews(build_pipeline("rotate"))(x)
    assert v1.shape == v2.shape == x.shape
    assert not torch.equal(v1, v2)
