from __future__ import annotations

import pytest
import torch
from aug_helpers import gen, noise

from medaug.augment import Pipeline, build_pipeline, create_op
from medaug.errors import AugmentError

SPEC = "rotate+flip+blur(sigma=3-6,p=0.5)+chessboard"


@pytest.mark.parametrize("spec", ["none", "", " None ", "identity"])
def test_identity_specs(spec: str) -> None:
    pipe = build_pipeline(spec)
    x = noise()
    assert len(pipe) == 0
    assert pipe.spec == "none"
    assert pipe(x, gen()) is x


def test_spec_and_repr() -> None:
    pipe = build_pipeline(SPEC)
    assert pipe.spec == SPEC
    assert SPEC in repr(pipe)
    assert [op.name for op in pipe.ops] == ["rotate", "flip", "blur", "chessboard"]
    assert pipe.ops[2].p == 0.5
    assert Pipeline([create_op("flip"), create_op("rotate")]).spec == "flip+rotate"


def test_forward_applies_ops_in_order_from_one_generator() -> None:
    pipe, x = build_pipeline(SPEC), noise(6)
    g = gen(5)
    expect = x
    for op in pipe.ops:
        expect = op(expect, g)
    out = pipe(x, gen(5))
    assert torch.equal(out, expect)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert not torch.equal(out, x)


def test_order_matters() -> None:
    x = noise(4)
    a = build_pipeline("rotate(degrees=30-30)+erase(p=1)")(x, gen())
    b = build_pipeline("erase(p=1)+rotate(degrees=30-30)")(x, gen())
    assert not torch.equal(a, b)


def test_sample_then_apply_replays_forward() -> None:
    pipe, x = build_pipeline(SPEC), noise(6)
    params = pipe.sample(x, gen(9))
    assert len(params) == 4
    assert torch.equal(pipe.apply(x, params), pipe(x, gen(9)))


def test_seeded_and_unseeded() -> None:
    pipe, x = build_pipeline(SPEC), noise()
    assert torch.equal(pipe(x, gen(1)), pipe(x, gen(1)))
    assert pipe(x).shape == x.shape


def test_bad_spec_raises() -> None:
    with pytest.raises(AugmentError, match="valid: blur"):
        build_pipeline("rotate+swirl")
    with pytest.raises(AugmentError, match="p must be in"):
        build_pipeline("flip(p=2)")
