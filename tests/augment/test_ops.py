"""Behaviour every registered op shares, then fixed-parameter checks per op."""

from __future__ import annotations

import math
from typing import Any

import kornia
import pytest
import torch
import torch.nn.functional as F
from aug_helpers import gen, noise

from medaug.augment import available_ops, create_op
from medaug.errors import AugmentError

OPS = available_ops()

# Arguments each op must refuse (beyond a bad ``p``).
BAD_ARGS: dict[str, list[dict[str, Any]]] = {
    "blur": [{"sigma": (0.0, 1.0)}, {"sigma": (2.0, 1.0)}, {"kernel_size": 4},
             {"kernel_size": 1}, {"sigma": (1.0, 2.0, 3.0)}],
    "chessboard": [{"cell": 0}, {"cell": -4}, {"shift": -1}],
    "crop": [{"scale": (0.0, 1.0)}, {"scale": (0.5, 1.5)}, {"scale": (0.9, 0.5)},
             {"ratio": (0.0, 1.0)}, {"ratio": (2.0, 1.0)}],
    "erase": [{"area": (0.0, 0.2)}, {"area": (0.2, 1.2)}, {"aspect": (-1.0, 2.0)},
              {"aspect": (3.0, 0.3)}],
    "flip": [{"horizontal": False, "vertical": False}],
    "intensity": [{"brightness": -0.1}, {"brightness": 2.0}, {"contrast": 1.5},
                  {"gamma": (0.0, 1.0)}, {"gamma": (2.0, 1.0)}],
    "rotate": [{"degrees": (10.0, -10.0)}, {"degrees": (0.0, 400.0)}],
}

# Settings whose effect is visible on the tiny test images: sigma is in px at 224, so the
# default blur (0.1 to 2 px at 224) is well under a pixel at 32 px.
VISIBLE: dict[str, dict[str, Any]] = {"blur": {"sigma": (5.0, 10.0)}}

# Settings under which a batch of identical images must come out different per sample
# (flip at p=1 flips every sample: per-sample randomness shows at p=0.5).
VARIED: dict[str, dict[str, Any]] = {**VISIBLE, "flip": {"p": 0.5}}


def test_bad_args_cover_every_op() -> None:
    assert sorted(BAD_ARGS) == OPS


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_dtype_and_range_kept(name: str, dtype: torch.dtype) -> None:
    x = noise(3, (32, 40), dtype=dtype)
    out = create_op(name, p=1.0)(x, gen())
    assert out.shape == x.shape
    assert out.dtype == dtype
    assert torch.isfinite(out).all()
    assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6


@pytest.mark.parametrize("name", OPS)
def test_same_seed_same_output(name: str) -> None:
    x, op = noise(8), create_op(name, **{"p": 0.7, **VISIBLE.get(name, {})})
    a, b = op(x, gen(3)), op(x, gen(3))
    assert torch.equal(a, b)
    assert not torch.equal(op(x, gen(4)), a)


@pytest.mark.parametrize("name", OPS)
def test_p0_is_identity(name: str) -> None:
    x = noise()
    op = create_op(name, p=0.0)
    assert torch.equal(op(x, gen()), x)
    assert torch.equal(op.apply(x, op.sample(x, gen())), x)


@pytest.mark.parametrize("name", OPS)
def test_p1_changes_every_sample(name: str) -> None:
    x = noise(6)
    out = create_op(name, **{"p": 1.0, **VISIBLE.get(name, {})})(x, gen())
    changed = (out != x).flatten(1).any(1)
    assert changed.all(), f"{name} left samples {torch.nonzero(~changed).flatten().tolist()}"


@pytest.mark.parametrize("name", OPS)
def test_partial_p_leaves_unapplied_samples_exactly(name: str) -> None:
    x, op = noise(16), create_op(name, **{**VISIBLE.get(name, {}), "p": 0.5})
    params = op.sample(x, gen(1))
    out = op.apply(x, params)
    keep = ~params["apply"]
    assert 0 < int(keep.sum()) < 16
    assert torch.equal(out[keep], x[keep])
    assert (out[~keep] != x[~keep]).flatten(1).any(1).all()


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("p", [1.5, -0.1])
def test_bad_p_raises(name: str, p: float) -> None:
    with pytest.raises(AugmentError, match="p must be in"):
        create_op(name, p=p)


@pytest.mark.parametrize(("name", "kwargs"),
                         [(n, kw) for n, kws in BAD_ARGS.items() for kw in kws])
def test_bad_args_raise(name: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(AugmentError):
        create_op(name, **kwargs)


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("shape", [(2, 3, 16, 16), (2, 16, 16), (16, 16)])
def test_wrong_shape_raises(name: str, shape: tuple[int, ...]) -> None:
    with pytest.raises(AugmentError, match=r"\(B, 1, H, W\)"):
        create_op(name, p=1.0)(torch.rand(shape), gen())


@pytest.mark.parametrize("name", OPS)
def test_integer_input_raises(name: str) -> None:
    with pytest.raises(AugmentError, match="float"):
        create_op(name, p=1.0)(torch.zeros((2, 1, 8, 8), dtype=torch.uint8), gen())


@pytest.mark.parametrize("name", OPS)
def test_per_sample_randomness(name: str) -> None:
    x = noise(1).expand(12, -1, -1, -1).contiguous()
    out = create_op(name, **{"p": 1.0, **VARIED.get(name, {})})(x, gen())
    distinct = {tuple(o.flatten().tolist()) for o in out}
    assert len(distinct) > 1


@pytest.mark.parametrize("name", OPS)
def test_params_replay(name: str) -> None:
    x, op = noise(5), create_op(name, p=0.6)
    params = op.sample(x, gen(7))
    assert params["apply"].dtype == torch.bool
    assert all(v.shape[0] == 5 for v in params.values())
    assert torch.equal(op.apply(x, params), op(x, gen(7)))
    # the same parameters replay on another image of the same size
    y = noise(5, seed=1)
    assert torch.equal(op.apply(y, params), op(y, gen(7)))


# --- fixed parameters, expected values -------------------------------------------------------


def _params(apply: list[bool], **kw: list[Any]) -> dict[str, torch.Tensor]:
    out = {k: torch.tensor(v) for k, v in kw.items()}
    out["apply"] = torch.tensor(apply)
    return out


def test_flip_fixed() -> None:
    x = noise(4)
    op = create_op("flip", horizontal=True, vertical=True)
    out = op.apply(x, _params([True, True, False, True], hflip=[True, False, True, True],
                              vflip=[False, True, True, True]))
    assert torch.equal(out[0], x[0].flip(-1))
    assert torch.equal(out[1], x[1].flip(-2))
    assert torch.equal(out[2], x[2])
    assert torch.equal(out[3], x[3].flip(-1).flip(-2))


def test_flip_only_enabled_directions() -> None:
    x = noise(16)
    params = create_op("flip", horizontal=False, vertical=True, p=1.0).sample(x, gen())
    assert not params["hflip"].any() and params["vflip"].all() and params["apply"].all()


@pytest.mark.parametrize("size", [(24, 24), (20, 30)])
def test_rotate_matches_kornia(size: tuple[int, int]) -> None:
    x = noise(3, size, dtype=torch.float64)
    angles = [-30.0, 12.5, 90.0]
    out = create_op("rotate").apply(x, _params([True] * 3, angle=angles))
    ref = kornia.geometry.transform.rotate(x, torch.tensor(angles, dtype=torch.float64))
    torch.testing.assert_close(out, ref)


def test_rotate_90_is_rot90_and_fill() -> None:
    x = noise(1, 17)
    out = create_op("rotate", fill=0.5).apply(x, _params([True], angle=[90.0]))
    torch.testing.assert_close(out, torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5, rtol=0)
    out = create_op("rotate", fill=0.5).apply(x, _params([True], angle=[45.0]))
    assert out[0, 0, 0, 0] == 0.5 and out[0, 0, -1, -1] == 0.5


def test_crop_full_box_is_identity() -> None:
    x = noise(2, (16, 24))
    out = create_op("crop").apply(x, _params([True, True], top=[0.0, 0.0], left=[0.0, 0.0],
                                             height=[16.0, 16.0], width=[24.0, 24.0]))
    torch.testing.assert_close(out, x)


def test_crop_box_on_gradient() -> None:
    w = 16
    x = torch.arange(w, dtype=torch.float64).repeat(w, 1)[None, None] / w  # value = column / w
    params = _params([True], top=[0.0], left=[4.0], height=[8.0], width=[8.0])
    out = create_op("crop").apply(x, params)
    # output column j samples input column 4 + (j + 0.5) * 8 / 16 - 0.5 (pixel centres)
    expect = (4 + (torch.arange(w, dtype=torch.float64) + 0.5) / 2 - 0.5) / w
    torch.testing.assert_close(out[0, 0, 5], expect)


def test_crop_sampled_boxes_inside_image() -> None:
    x = noise(64, (30, 50))
    p = create_op("crop", scale=(0.1, 1.0), ratio=(0.2, 5.0)).sample(x, gen())
    assert (p["top"] >= 0).all() and (p["top"] + p["height"] <= 30 + 1e-4).all()
    assert (p["left"] >= 0).all() and (p["left"] + p["width"] <= 50 + 1e-4).all()
    area = p["height"] * p["width"] / (30 * 50)
    assert (area <= 1 + 1e-5).all() and (area >= 0.1 * 0.2 - 1e-5).all()


def test_erase_fixed_rectangle() -> None:
    x = noise(2, 10)
    op = create_op("erase", value=0.25)
    out = op.apply(x, _params([True, False], top=[2, 0], left=[3, 0], height=[4, 10],
                              width=[5, 10]))
    expect = x.clone()
    expect[0, :, 2:6, 3:8] = 0.25
    assert torch.equal(out, expect)


def test_erase_sampled_rectangles_fit_and_follow_area() -> None:
    x = noise(200, (40, 60))
    p = create_op("erase", area=(0.05, 0.1), aspect=(0.5, 2.0)).sample(x, gen())
    assert (p["top"] >= 0).all() and (p["top"] + p["height"] <= 40).all()
    assert (p["left"] >= 0).all() and (p["left"] + p["width"] <= 60).all()
    frac = (p["height"] * p["width"]).double() / (40 * 60)
    assert frac.min() > 0.03 and frac.max() < 0.13  # rounding to whole pixels


def test_intensity_fixed() -> None:
    x = noise(3)
    op = create_op("intensity")
    out = op.apply(x, _params([True, True, True], brightness=[0.3, 0.0, 0.0],
                              contrast=[1.0, 1.0, 0.5], gamma=[1.0, 2.0, 1.0]))
    torch.testing.assert_close(out[0], (x[0] + 0.3).clamp(0, 1))
    torch.testing.assert_close(out[1], x[1] ** 2)
    m = x[2].mean()
    torch.testing.assert_close(out[2], (x[2] - m) * 0.5 + m)


def _gaussian_reference(x: torch.Tensor, sigma: float, ks: int) -> torch.Tensor:
    k = torch.arange(ks, dtype=x.dtype) - ks // 2
    g = torch.exp(-(k**2) / (2 * sigma**2))
    g = g / g.sum()
    kernel = (g[:, None] * g[None, :])[None, None]
    return F.conv2d(F.pad(x, [ks // 2] * 4, mode="reflect"), kernel)


def test_blur_matches_reference_per_sample() -> None:
    x = noise(2, 24, dtype=torch.float64)
    op = create_op("blur", sigma=(0.2, 2.0), kernel_size=7)
    out = op.apply(x, _params([True, True], sigma=[0.5, 1.5]))
    torch.testing.assert_close(out[:1], _gaussian_reference(x[:1], 0.5, 7))
    torch.testing.assert_close(out[1:], _gaussian_reference(x[1:], 1.5, 7))
    assert out[1].var() < out[0].var() < x.var()


def test_blur_default_kernel_covers_three_sigma() -> None:
    x = noise(1, 224)
    op = create_op("blur", sigma=(2.0, 2.0))
    out = op.apply(x, _params([True], sigma=[2.0]))
    ks = 2 * math.ceil(3 * 2.0) + 1
    torch.testing.assert_close(out, _gaussian_reference(x, 2.0, ks), atol=1e-5, rtol=0)


@pytest.mark.parametrize("size", [64, 224])
def test_blur_sigma_scales_with_size(size: int) -> None:
    p = create_op("blur", sigma=(0.5, 2.0)).sample(noise(200, size), gen())
    lo, hi = 0.5 * size / 224, 2.0 * size / 224
    assert p["sigma"].min() >= lo and p["sigma"].max() <= hi
    assert p["sigma"].max() > lo + 0.9 * (hi - lo)


@pytest.mark.parametrize(("size", "ks"), [(24, 3), (31, 9), (17, 13)])
def test_blur_matches_kornia(size: int, ks: int) -> None:
    x = noise(5, (size, size + 3), dtype=torch.float64)
    sigma = torch.tensor([0.3, 0.8, 1.5, 2.5, 4.0], dtype=torch.float64)
    op = create_op("blur", sigma=(0.3, 4.0), kernel_size=ks)
    out = op.apply(x, _params([True] * 5, sigma=sigma.tolist()))
    ref = kornia.filters.gaussian_blur2d(x, ks, sigma[:, None].expand(-1, 2))
    torch.testing.assert_close(out, ref)


def test_lengths_described_at_the_image_size() -> None:
    assert create_op("blur", sigma=(0.1, 2.0)).at_size(64) == "sigma 0.029-0.57 px at 64 px"
    assert create_op("blur", sigma=(0.1, 2.0)).at_size(224) == "sigma 0.1-2 px at 224 px"
    assert create_op("chessboard").at_size(64) == "cell 6 px, shift +-1 px at 64 px"
    assert create_op("chessboard").at_size(224) == "cell 20 px, shift +-5 px at 224 px"
    assert create_op("flip").at_size(64) == ""


@pytest.mark.parametrize("name", ["blur", "erase", "flip", "intensity", "rotate", "crop"])
def test_a_single_image_is_augmented_with_probability_p(name: str) -> None:
    """On one-image batches (where "does any sample apply?" decides everything) an op acts on
    about a fraction ``p`` of the draws; flip once acted on p^2 because that decision read a
    different draw than the flip itself."""
    # blur's default sigma is below 0.15 px at 16 px, too small to change a float32 pixel
    op = create_op(name, p=0.5, **({"sigma": (20.0, 30.0)} if name == "blur" else {}))
    x = noise(1, 16)  # random pixels: every op changes them
    g = gen(11)
    changed = sum(not torch.equal(op(x, g), x) for _ in range(1000))
    assert 420 <= changed <= 580, changed


def test_sample_host_holds_what_sample_put_on_the_device() -> None:
    """Every op's CPU originals equal its device parameters (flip's ``apply`` included)."""
    x = noise(32, 16)
    for name in available_ops():
        params = create_op(name).sample(x, gen(5))
        for key, value in params.items():
            assert torch.equal(params.host[key], value.cpu()), (name, key)
