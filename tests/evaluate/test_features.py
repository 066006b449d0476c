"""Frozen feature extraction: rows, order, batching and the backbone's mode."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from medaug.evaluate.features import extract_features
from medaug.models.backbones import create_backbone


def _images(n: int = 10, size: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size), dtype=np.uint8)


@pytest.fixture(scope="module")
def backbone() -> nn.Module:
    """A ResNet-18 with batch norm, so eval and train mode give different features."""
    torch.manual_seed(0)
    return create_backbone("resnet18")


def test_features_of_the_chosen_rows_in_order(backbone: nn.Module) -> None:
    """Rows ``[3, 1, 7]`` give ``(3, D)`` float32 CPU features equal to the eval-mode
    backbone on those rows, in that order."""
    images = _images()
    indices = np.array([3, 1, 7])
    backbone.train()
    got = extract_features(backbone, images, indices)
    assert got.shape == (3, 512)
    assert got.dtype == torch.float32 and got.device.type == "cpu"
    backbone.eval()
    with torch.no_grad():
        x = torch.from_numpy(images[indices]).float().div(255).unsqueeze(1)
        want = backbone(x)
        train_mode = copy.deepcopy(backbone).train()(x)  # a copy: keep the running stats
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    # the reference is sensitive to the mode and the order
    assert not torch.allclose(train_mode, want, atol=1e-3)
    assert not torch.allclose(got, want[[1, 0, 2]], atol=1e-3)


def test_batch_size_does_not_change_the_features(backbone: nn.Module) -> None:
    """``batch_size=2`` (uneven last batch) equals one batch of 256."""
    images = _images()
    indices = np.array([9, 0, 4, 4, 2])
    small = extract_features(backbone, images, indices, batch_size=2)
    big = extract_features(backbone, images, indices, batch_size=256)
    assert small.shape == big.shape == (5, 512)
    torch.testing.assert_close(small, big, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(small[2], small[3])  # a repeated index repeats its row


@pytest.mark.parametrize("training", [True, False])
def test_mode_is_restored(backbone: nn.Module, training: bool) -> None:
    """The backbone leaves in the mode it came in, submodules included."""
    backbone.train(training)
    extract_features(backbone, _images(), np.array([0, 1]), batch_size=1)
    assert backbone.training is training
    assert all(m.training is training for m in backbone.modules())


def test_mode_is_restored_after_an_error() -> None:
    """A failing forward pass still restores train mode."""

    class Broken(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("boom")

    net = Broken().train()
    with pytest.raises(RuntimeError, match="boom"):
        extract_features(net, _images(), np.array([0]))
    assert net.training


def test_no_gradients_are_recorded(backbone: nn.Module) -> None:
    """Features are extracted without autograd history."""
    got = extract_features(backbone, _images(), np.array([0, 1]))
    assert not got.requires_grad
    assert got.grad_fn is None
