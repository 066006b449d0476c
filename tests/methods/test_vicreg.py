"""VICReg: the loss is lightly's VICRegLoss with the method's three weights ``sim``, ``var``,
``cov`` (lightly's lambda_param, mu_param, nu_param: invariance 25, variance 25, covariance 1),
the mean over pairs with more views, ``--method-args sim=..,var=..`` reaches them, and bad
settings are ConfigErrors."""

from __future__ import annotations

import itertools

import pytest
import torch
from lightly.loss import VICRegLoss
from method_helpers import float_views

from medaug.augment import TwoViews, build_pipeline
from medaug.errors import ConfigError
from medaug.methods import SSLMethod, create_method
from medaug.methods.args import method_defaults
from medaug.models.backbones import create_backbone
from medaug.train.pretrain import build_method
from medaug.train.pretrain_config import PretrainConfig

SMALL = {"proj_dim": 16, "proj_hidden": 32}


def _vicreg(**kwargs: object) -> SSLMethod:
    torch.manual_seed(0)
    return create_method("vicreg", backbone=create_backbone("resnet18-small"),
                         views=TwoViews(build_pipeline("flip")), **{**SMALL, **kwargs})


def test_defaults() -> None:
    """The paper's weights 25 / 25 / 1 and a 2048-2048-2048 projector."""
    defaults = method_defaults("vicreg")
    assert (defaults["sim"], defaults["var"], defaults["cov"]) == (25, 25, 1)
    assert (defaults["proj_hidden"], defaults["proj_dim"]) == (2048, 2048)


@pytest.mark.parametrize("n_views", [2, 3])
def test_loss_is_lightlys_vicreg_loss(n_views: int) -> None:
    """Two views: VICRegLoss()(z0, z1) of the method's projections; three: the mean over the
    three pairs. Embeddings are the first view's projections."""
    m = _vicreg()
    v0, v1 = float_views(8)
    views = [v0, v1, v0.flip(-1)][:n_views]
    with torch.no_grad():
        loss, embeddings = m.views_loss(views)
        z = [m.projection(m.backbone(v)) for v in views]
        ref = VICRegLoss(lambda_param=25.0, mu_param=25.0, nu_param=1.0)
        expected = torch.stack([ref(a, b) for a, b in itertools.combinations(z, 2)]).mean()
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(embeddings, z[0])


def test_weights_reach_the_criterion() -> None:
    """sim, var and cov map to lightly's lambda_param, mu_param and nu_param: on fixed
    projections the criterion equals a fresh VICRegLoss of the same weights (and differs from
    one with two of them swapped, and from the default's)."""
    m = _vicreg(sim=2.0, var=3.0, cov=0.5)
    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(6, 16, generator=g), torch.randn(6, 16, generator=g)
    torch.testing.assert_close(m.criterion(a, b),
                               VICRegLoss(lambda_param=2.0, mu_param=3.0, nu_param=0.5)(a, b))
    swapped = VICRegLoss(lambda_param=3.0, mu_param=2.0, nu_param=0.5)(a, b)
    assert not torch.allclose(m.criterion(a, b), swapped)
    assert not torch.allclose(m.criterion(a, b), VICRegLoss()(a, b))


def test_method_args_reach_the_weights() -> None:
    """``--method vicreg --method-args sim=25,var=25`` as build_method reads it: the two given,
    ``cov`` left at its default, and the widths given as well."""
    config = PretrainConfig(method="vicreg", ops="flip", backbone="resnet18-small",
                            batch_size=8, method_args="sim=10,var=20,proj_dim=16,proj_hidden=32")
    m = build_method(config, world=1)
    c = m.criterion
    assert (c.lambda_param, c.mu_param, c.nu_param) == (10.0, 20.0, 1.0)
    assert m.projection.layers[-1].out_features == 16


def test_bad_settings() -> None:
    for key in ("sim", "var", "cov"):
        with pytest.raises(ConfigError, match=rf"\b{key}\b"):
            _vicreg(**{key: -1.0})
    with pytest.raises(ConfigError, match="batch of at least 2"):
        _vicreg().views_loss([v[:1] for v in float_views(8)])
