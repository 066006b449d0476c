"""Barlow Twins: the loss is lightly's BarlowTwinsLoss (lambda 5e-3) on the two views'
projections, the mean over pairs with more views, and bad settings are ConfigErrors."""

from __future__ import annotations

import itertools

import pytest
import torch
from lightly.loss import BarlowTwinsLoss
from method_helpers import float_views

from medaug.augment import TwoViews, build_pipeline
from medaug.errors import ConfigError
from medaug.methods import SSLMethod, create_method
from medaug.methods.args import method_defaults
from medaug.models.backbones import create_backbone

SMALL = {"proj_dim": 16, "proj_hidden": 32}


def _barlow(**kwargs: object) -> SSLMethod:
    torch.manual_seed(0)
    return create_method("barlowtwins", backbone=create_backbone("resnet18-small"),
                         views=TwoViews(build_pipeline("flip")), **{**SMALL, **kwargs})


def test_defaults() -> None:
    """lambda 5e-3 (the paper's); a 2048-2048-2048 projector (see the module's docstring)."""
    defaults = method_defaults("barlowtwins")
    assert defaults["lambda_param"] == 5e-3
    assert (defaults["proj_hidden"], defaults["proj_dim"]) == (2048, 2048)


@pytest.mark.parametrize("n_views", [2, 3])
def test_loss_is_lightlys_barlow_twins_loss(n_views: int) -> None:
    """Two views: BarlowTwinsLoss(5e-3)(z0, z1) of the method's projections; three: the mean
    over the three pairs. Embeddings are the first view's projections."""
    m = _barlow()
    v0, v1 = float_views(8)
    views = [v0, v1, v0.flip(-1)][:n_views]
    with torch.no_grad():
        loss, embeddings = m.views_loss(views)
        z = [m.projection(m.backbone(v)) for v in views]
        ref = BarlowTwinsLoss(lambda_param=5e-3)
        expected = torch.stack([ref(a, b) for a, b in itertools.combinations(z, 2)]).mean()
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(embeddings, z[0])


def test_criterion_matches_lightly_on_fixed_tensors() -> None:
    """``lambda_param`` reaches the criterion: on fixed projections it equals a fresh lightly
    loss of the same lambda (and differs from the default's)."""
    m = _barlow(lambda_param=0.1)
    g = torch.Generator().manual_seed(4)
    a, b = torch.randn(6, 16, generator=g), torch.randn(6, 16, generator=g)
    torch.testing.assert_close(m.criterion(a, b), BarlowTwinsLoss(lambda_param=0.1)(a, b))
    assert not torch.allclose(m.criterion(a, b), BarlowTwinsLoss()(a, b))


def test_bad_settings() -> None:
    with pytest.raises(ConfigError, match="lambda_param"):
        _barlow(lambda_param=-1.0)
    with pytest.raises(ConfigError, match="two views"):
        _barlow().views_loss([float_views(8)[0]])
    with pytest.raises(ConfigError, match="batch of at least 2"):
        _barlow().views_loss([v[:1] for v in float_views(8)])
