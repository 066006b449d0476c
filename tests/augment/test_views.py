from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from aug_helpers import gen, noise

from medaug.augment import Pipeline, TwoViews, build_pipeline
from medaug.augment.base import to_params
from medaug.augment.views import MultiViews, ViewSpec
from medaug.errors import AugmentError


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


def _old_two_views(pipeline: Pipeline, second: Pipeline | None, x: torch.Tensor,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The draws of TwoViews before it became a MultiViews (copied from that version)."""
    second = pipeline if second is None else second
    hosts = pipeline.sample_host(x, generator)
    n = len(hosts)
    params = to_params(hosts + second.sample_host(x, generator), x.device)
    return pipeline.apply(x, params[:n]), second.apply(x, params[n:])


@pytest.mark.parametrize("second", [None, "erase(p=0.7)+flip"])
def test_two_views_draw_what_they_drew_before_multiviews(second: str | None) -> None:
    """TwoViews is MultiViews' two-view case with the very same draws as before, symmetric
    or asymmetric, and it still returns a pair."""
    x = torch.rand((6, 1, 16, 16), generator=gen(3))
    first = build_pipeline("rotate+flip+crop+blur(p=0.5)+chessboard")
    other = build_pipeline(second) if second else None
    views = TwoViews(first, other)
    assert isinstance(views, MultiViews) and len(views) == 2
    got = views(x, gen(9))
    want = _old_two_views(first, other, x, gen(9))
    assert isinstance(got, tuple) and len(got) == 2
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


def test_multi_crop_views_sizes_and_draws() -> None:
    """Two global views at the input's size, then three local ones resized to 8 px after
    their crop; the globals equal TwoViews' draws from the same generator, each local view is
    its pipeline's draw (in order) resized with antialiasing, and a seed fixes them all."""
    x = torch.rand((5, 1, 16, 16), generator=gen(4))
    glob = build_pipeline("crop(scale=0.5-1.0)+flip")
    local = build_pipeline("crop(scale=0.1-0.4)+flip")
    views = MultiViews([ViewSpec(glob, count=2), ViewSpec(local, count=3, size=8)])
    assert len(views) == 5
    out = views(x, gen(2))
    assert isinstance(out, list) and len(out) == 5
    assert [tuple(v.shape) for v in out] == [(5, 1, 16, 16)] * 2 + [(5, 1, 8, 8)] * 3
    again = views(x, gen(2))
    assert all(torch.equal(a, b) for a, b in zip(out, again, strict=True))
    g1, g2 = TwoViews(glob)(x, gen(2))
    assert torch.equal(out[0], g1) and torch.equal(out[1], g2)
    g = gen(2)
    hosts = [glob.sample_host(x, g) for _ in range(2)] + [local.sample_host(x, g)
                                                          for _ in range(3)]
    for view, host in zip(out[2:], hosts[2:], strict=True):
        full = local.apply(x, to_params(host, x.device))
        want = F.interpolate(full, size=(8, 8), mode="bilinear", align_corners=False,
                             antialias=True)
        assert torch.equal(view, want)
    assert not torch.equal(out[2], out[3])


@pytest.mark.parametrize("spec", [[], [(1, 0)], [(0, None)]])
def test_multiviews_refuses_no_views_and_bad_counts(spec: list) -> None:
    with pytest.raises(AugmentError, match="count >= 1"):
        MultiViews([ViewSpec(build_pipeline("flip"), c, s) for c, s in spec])
