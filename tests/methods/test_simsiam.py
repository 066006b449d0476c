"""SimSiam: the loss is lightly's symmetrised negative cosine similarity with the projections
detached (stop-gradient), and the predictor trains at a fixed learning rate while the rest
follows the schedule."""

from __future__ import annotations

import pytest
import torch
from lightly.loss import NegativeCosineSimilarity
from method_helpers import float_views

from medaug.augment import TwoViews, build_pipeline
from medaug.errors import ConfigError
from medaug.methods import OptimConfig, SSLMethod, create_method
from medaug.methods.optim import warmup_cosine
from medaug.models.backbones import create_backbone

SMALL = {"proj_dim": 16, "proj_hidden": 32, "pred_hidden": 8}


def _simsiam(optim: OptimConfig | None = None, **kwargs: object) -> SSLMethod:
    torch.manual_seed(0)
    return create_method("simsiam", backbone=create_backbone("resnet18-small"),
                         views=TwoViews(build_pipeline("flip")),
                         optim=optim or OptimConfig(lr=0.05), **{**SMALL, **kwargs})


def _reference(m: SSLMethod, views: list[torch.Tensor], stop_grad: bool = True
               ) -> torch.Tensor:
    z = [m.projection(m.backbone(v)) for v in views]
    p = [m.prediction(zi) for zi in z]
    t = [zi.detach() if stop_grad else zi for zi in z]
    d = NegativeCosineSimilarity()
    return d(p[0], t[1]) / 2 + d(p[1], t[0]) / 2


def test_loss_is_the_papers_symmetrised_negative_cosine() -> None:
    """``D(p0, z1) / 2 + D(p1, z0) / 2`` with lightly's NegativeCosineSimilarity; embeddings
    are the first view's projections."""
    m = _simsiam()
    views = list(float_views(8))
    with torch.no_grad():
        loss, embeddings = m.views_loss(views)
        torch.testing.assert_close(loss, _reference(m, views))
        torch.testing.assert_close(embeddings, m.projection(m.backbone(views[0])))


def test_targets_are_stop_gradient() -> None:
    """The backbone's gradient is the reference's with detached projections, not the one
    without the stop-gradient."""
    m = _simsiam()
    views = list(float_views(8))
    weight = next(m.backbone.parameters())

    def grad(loss: torch.Tensor) -> torch.Tensor:
        m.zero_grad()
        loss.backward()
        return weight.grad.detach().clone()

    got = grad(m.views_loss(views)[0])
    torch.testing.assert_close(got, grad(_reference(m, views)))
    assert not torch.allclose(got, grad(_reference(m, views, stop_grad=False)))


def _lrs(m: SSLMethod, steps: int = 6) -> tuple[list[float], list[float]]:
    """The predictor's and the backbone's rates over ``steps`` scheduler steps of a manual
    optimiser loop (10 steps in the schedule)."""
    m.total_steps = lambda: 10  # type: ignore[method-assign]
    configured = m.configure_optimizers()
    opt, schedule = configured["optimizer"], configured["lr_scheduler"]["scheduler"]
    predictor = {id(p) for p in m.prediction.parameters()}
    backbone = {id(p) for p in m.backbone.parameters()}
    (pred_group,) = [g for g in opt.param_groups if {id(p) for p in g["params"]} == predictor]
    (main_group,) = [g for g in opt.param_groups if backbone <= {id(p) for p in g["params"]}]
    pred, main = [], []
    for _ in range(steps):
        pred.append(pred_group["lr"])
        main.append(main_group["lr"])
        loss, _ = m.views_loss(list(float_views(8)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    return pred, main


def test_predictor_lr_is_fixed_while_the_rest_follows_the_schedule() -> None:
    """The predictor's group stays at the peak rate 0.05 over the steps; the backbone's group
    follows the cosine schedule (0.05 * warmup_cosine(0, 10)(s))."""
    pred, main = _lrs(_simsiam())
    assert pred == [0.05] * len(pred)
    factor = warmup_cosine(0, 10)
    assert main == pytest.approx([0.05 * factor(s) for s in range(len(main))])
    assert main[-1] < main[0]


def test_predictor_lr_can_be_set_or_scheduled() -> None:
    """``predictor_lr`` sets the fixed rate; ``fixed_predictor_lr=false`` schedules it with
    the rest."""
    pred, _ = _lrs(_simsiam(predictor_lr=0.01), steps=3)
    assert pred == [0.01] * 3
    pred, main = _lrs(_simsiam(fixed_predictor_lr=False), steps=3)
    assert pred == pytest.approx(main) and pred[-1] < pred[0]


@pytest.mark.parametrize("decay_norm_bias", [True, False])
def test_groups_hold_every_trainable_parameter_once(decay_norm_bias: bool) -> None:
    """The parameter groups partition the trainable parameters, the predictor in its own."""
    m = _simsiam(OptimConfig(lr=0.05, decay_norm_bias=decay_norm_bias))
    ids = [id(p) for g in m.param_groups() for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in m.parameters() if p.requires_grad)
    assert m.param_groups()[-1]["name"] == "predictor"


def test_bad_predictor_lr() -> None:
    with pytest.raises(ConfigError, match="predictor_lr"):
        _simsiam(predictor_lr=0.0)
