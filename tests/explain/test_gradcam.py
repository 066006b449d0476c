"""Heat maps (pytorch-grad-cam behind :class:`HeatMaps`): image-shaped, in [0, 1], hooks gone
after the ``with`` block (also after an error), a model that sees one quadrant only gets
nearly all of its heat there with every method, EigenCAM's sign fixed, and the overlay's
colour order (RGB)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import Tensor, nn

from medaug.errors import ConfigError
from medaug.explain.gradcam import (
    CAM_METHODS,
    HeatMaps,
    LogitTarget,
    ProbabilityTarget,
    check_method,
    heat_maps,
    overlay,
)
from medaug.explain.model import ProbedEncoder
from medaug.models.backbones import create_backbone, feature_dim

METHODS = sorted(CAM_METHODS)
QUADRANTS = {"top-left": (0, 0), "top-right": (0, 1), "bottom-left": (1, 0),
             "bottom-right": (1, 1)}


class SeeOneQuadrant(nn.Module):
    """Zeroes every pixel outside one quadrant: whatever follows sees that quadrant only."""

    def __init__(self, row: int, col: int) -> None:
        super().__init__()
        self.row, self.col = row, col

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2] // 2, x.shape[-1] // 2
        mask = torch.zeros_like(x)
        mask[..., self.row * h:(self.row + 1) * h, self.col * w:(self.col + 1) * w] = 1
        return x * mask


def small_cnn(seed: int = 0) -> nn.Sequential:
    """Three 3x3 convolutions (no bias, BatchNorm, ReLU) and global pooling: features
    ``(B, 16)`` with a receptive field of 7 px, so zeroed regions stay zero."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    width = 1
    for out in (8, 16, 16):
        layers += [nn.Conv2d(width, out, 3, padding=1, bias=False), nn.BatchNorm2d(out),
                   nn.ReLU()]
        width = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())


def _quadrant_model(row: int, col: int) -> ProbedEncoder:
    encoder = nn.Sequential(SeeOneQuadrant(row, col), small_cnn())
    torch.manual_seed(1)
    head = nn.Linear(16, 1)
    with torch.no_grad():
        head.weight.copy_(torch.rand(1, 16) + 0.1)  # positive: more activation, more abnormal
    return ProbedEncoder(encoder, head).eval()


def _whole_image_model() -> ProbedEncoder:
    torch.manual_seed(1)
    head = nn.Linear(16, 1)
    with torch.no_grad():
        head.weight.copy_(torch.rand(1, 16) + 0.1)
    return ProbedEncoder(nn.Sequential(small_cnn()), head).eval()


def _resnet_model() -> ProbedEncoder:
    backbone = create_backbone("resnet18-small", seed=0)
    torch.manual_seed(0)
    return ProbedEncoder(backbone, nn.Linear(feature_dim(backbone), 1)).eval()


def _all_hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               for m in model.modules())


@pytest.mark.parametrize("method", METHODS)
def test_heat_maps_have_the_image_shape_and_lie_in_0_1(method: str) -> None:
    model = _resnet_model()
    x = torch.rand(3, 1, 32, 24)
    heat = heat_maps(model, model.layer(), x, [LogitTarget(1)] * 3, method)
    assert heat.shape == (3, 32, 24)
    assert heat.dtype == np.float32
    assert heat.min() >= 0 and heat.max() <= 1
    assert heat.max() > 0  # not all empty: a random ResNet has positive evidence somewhere


@pytest.mark.parametrize("method", METHODS)
def test_hooks_are_gone_after_the_block(method: str) -> None:
    model = _resnet_model()
    before = _all_hooks(model)
    with HeatMaps(model, model.layer(), method) as maps:
        assert _all_hooks(model) > before  # registered on enter
        maps(torch.rand(2, 1, 32, 32), [LogitTarget(1)] * 2)
    assert _all_hooks(model) == before == 0


def test_hooks_are_gone_after_an_error_inside_the_block() -> None:
    model = _resnet_model()
    with pytest.raises(ValueError, match="1-channel"), HeatMaps(model, model.layer()) as maps:
        maps(torch.rand(2, 3, 32, 32), [LogitTarget(1)] * 2)  # RGB: refused
    assert _all_hooks(model) == 0


def test_calls_outside_the_block_and_wrong_target_counts_are_refused() -> None:
    model = _resnet_model()
    maps = HeatMaps(model, model.layer())
    with pytest.raises(RuntimeError, match="with"):
        maps(torch.rand(1, 1, 32, 32), [LogitTarget(1)])
    with maps, pytest.raises(ValueError, match="2 targets for 1 images"):
        maps(torch.rand(1, 1, 32, 32), [LogitTarget(1)] * 2)
    assert _all_hooks(model) == 0


def test_frozen_parameters_still_give_heat_maps() -> None:
    model = _resnet_model()
    model.requires_grad_(False)  # a frozen encoder: the gradient flows through the input
    heat = heat_maps(model, model.layer(), torch.rand(2, 1, 32, 32), [LogitTarget(1)] * 2)
    assert heat.max() > 0


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("quadrant", sorted(QUADRANTS))
def test_a_model_that_sees_one_quadrant_puts_its_heat_there(method: str, quadrant: str
                                                             ) -> None:
    row, col = QUADRANTS[quadrant]
    x = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(3))
    shares = []
    for model in (_quadrant_model(row, col), _whole_image_model()):
        for layer in (model.encoder[-1][7], model.encoder[-1][8]):  # last conv, its ReLU
            heat = heat_maps(model, layer, x, [LogitTarget(1)] * 2, method)
            inside = heat[:, row * 32:(row + 1) * 32, col * 32:(col + 1) * 32].sum(axis=(1, 2))
            shares.append(inside / heat.sum(axis=(1, 2)))
    # what spills out is the last convolutions' receptive field (3 px) at the quadrant's edge
    assert (shares[0] > 0.9).all() and (shares[1] > 0.9).all(), shares
    assert (shares[2] < 0.5).all() and (shares[3] < 0.5).all(), shares  # sees everything


def test_eigencam_is_oriented_towards_what_the_layer_activates_on() -> None:
    # the library's principal component has an arbitrary sign; ours points at the quadrant
    model = _quadrant_model(1, 1)
    x = torch.rand(6, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    for layer in (model.encoder[1][7], model.encoder[1][8]):  # signed, and after a ReLU
        heat = heat_maps(model, layer, x, [LogitTarget(1)] * 6, "eigencam")
        assert (heat[:, 16:, 16:].mean(axis=(1, 2)) > heat[:, :16, :16].mean(axis=(1, 2))).all()


def test_eigencam_is_the_librarys_projection_up_to_its_sign() -> None:
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection

    from medaug.explain.gradcam import OrientedEigenCAM

    acts = np.random.default_rng(0).standard_normal((3, 8, 5, 6)).astype(np.float32)
    ours = OrientedEigenCAM.get_cam_image(None, None, None, None, acts, None, False)  # type: ignore[arg-type]
    theirs = get_2d_projection(acts)
    for a, b in zip(ours, theirs, strict=True):
        assert np.allclose(a, b, atol=1e-4) or np.allclose(a, -b, atol=1e-4)


def test_the_normal_target_is_the_negative_abnormal_logit() -> None:
    out = torch.tensor([[1.5], [-0.5]])
    assert torch.equal(LogitTarget(1)(out), torch.tensor([1.5, -0.5]))
    assert torch.equal(LogitTarget(0)(out), torch.tensor([-1.5, 0.5]))
    assert torch.allclose(ProbabilityTarget(1)(out) + ProbabilityTarget(0)(out),
                          torch.ones(2))
    with pytest.raises(ValueError, match="category"):
        LogitTarget(2)


def test_gradcam_of_the_normal_target_shows_the_other_side() -> None:
    # a head that reads one feature positively and one negatively: the two targets' maps differ
    model = _resnet_model()
    x = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    abnormal = heat_maps(model, model.layer(), x, [LogitTarget(1)] * 2)
    normal = heat_maps(model, model.layer(), x, [LogitTarget(0)] * 2)
    assert not np.allclose(abnormal, normal)


def test_unknown_methods_are_config_errors() -> None:
    assert check_method("gradcam++") == "gradcam++"
    with pytest.raises(ConfigError, match="scorecam"):
        check_method("scorecam")


def test_the_overlay_is_rgb_with_the_heat_in_red() -> None:
    image = np.full((8, 8), 128, np.uint8)
    heat = np.zeros((8, 8), np.float32)
    heat[:4] = 1.0  # hot top half: red in JET; cold bottom half: blue
    rgb = overlay(image, heat, image_weight=0.0)
    assert rgb.shape == (8, 8, 3) and rgb.dtype == np.uint8
    top, bottom = rgb[0, 0].astype(int), rgb[7, 7].astype(int)
    assert top[0] > top[2]  # channel 0 is red
    assert bottom[2] > bottom[0]  # channel 2 is blue
    jet_hot = cv2.applyColorMap(np.uint8([[255]]), cv2.COLORMAP_JET)[0, 0]  # BGR
    assert tuple(top) == tuple(int(v) for v in jet_hot[::-1])
    grey = overlay(image, heat, image_weight=1.0)
    assert (grey == 128).all()  # all image, no colour


def test_overlay_refuses_mismatched_shapes_and_weights() -> None:
    with pytest.raises(ValueError, match="shape"):
        overlay(np.zeros((8, 8), np.uint8), np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="image_weight"):
        overlay(np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.float32), image_weight=2)
