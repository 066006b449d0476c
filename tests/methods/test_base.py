"""The base's contract: a list of views (multi-crop sizes included) with the two-view numbers
of before, the EMA schedule owned by the base, parameter groups with a fixed or scaled rate
that the schedule respects, and the default optimiser unchanged."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest
import torch
from method_helpers import TinyBackbone, float_views, tiny_method, uint8_batch
from torch import Tensor, nn

from medaug.augment import TwoViews, build_pipeline
from medaug.errors import ConfigError
from medaug.methods import OptimConfig, SSLMethod
from medaug.methods.optim import warmup_cosine

#: ``views_loss`` of ``tiny_method(name)`` on ``float_views(8)``, computed with the two-view
#: signature ``views_loss(view1, view2)`` before the list contract.
PINNED = {"simclr": 0.08069980144500732, "byol": 0.1417064666748047}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_two_views_give_the_numbers_of_before(name: str) -> None:
    m = tiny_method(name)
    with torch.no_grad():
        loss, _ = m.views_loss(list(float_views(8)))
    assert float(loss) == pytest.approx(PINNED[name], rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_views_of_different_sizes(name: str) -> None:
    """Two global views at 16 px and two local ones at 8 px (a backbone that pools): a finite
    loss, embeddings of the first view, and at least two views required."""
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten())
    backbone.feature_dim = 8  # type: ignore[assignment]
    from medaug.methods import create_method

    kwargs: dict[str, Any] = {"proj_dim": 16, "proj_hidden": 32}
    m = create_method(name, backbone=backbone, views=TwoViews(build_pipeline("flip")),
                      **kwargs)
    g = torch.Generator().manual_seed(0)
    views = [torch.rand((4, 1, 16, 16), generator=g) for _ in range(2)] + \
        [torch.rand((4, 1, 8, 8), generator=g) for _ in range(2)]
    loss, emb = m.views_loss(views)
    assert bool(torch.isfinite(loss)) and emb.shape == (4, 16)
    loss.backward()
    with pytest.raises(ConfigError, match="at least two views"):
        m.views_loss(views[:1])


def test_simclr_mean_over_pairs_of_views() -> None:
    """With three views SimCLR's loss is the mean NT-Xent over the three pairs."""
    m = tiny_method("simclr")
    g = torch.Generator().manual_seed(2)
    views = [torch.rand((6, 1, 16, 16), generator=g) for _ in range(3)]
    with torch.no_grad():
        loss, _ = m.views_loss(views)
        z = [m.projection(m.backbone(v)) for v in views]
        want = sum(float(m.criterion(a, b)) for a, b in itertools.combinations(z, 2)) / 3
    assert float(loss) == pytest.approx(want, rel=1e-6)


def test_make_views_returns_the_list_of_views() -> None:
    m = tiny_method("simclr", pipeline="rotate+flip", seed=3)
    views = m.make_views(uint8_batch(6, 16))
    assert isinstance(views, list) and len(views) == 2


class Paired(SSLMethod):
    """A method with one EMA pair (a linear head and its target), not registered."""

    def __init__(self, momentum_base: float = 0.9, **base: Any) -> None:
        super().__init__(momentum_base=momentum_base, **base)
        self.head = nn.Linear(self.feature_dim, 4)
        self.target = copy.deepcopy(self.head).requires_grad_(False)

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.head, self.target)]

    def views_loss(self, views: list[Tensor]) -> tuple[Tensor, Tensor]:
        z = self.head(self.backbone(views[0]))
        return z.pow(2).mean(), z


def _paired(**kwargs: Any) -> Paired:
    torch.manual_seed(0)
    return Paired(backbone=TinyBackbone(), views=TwoViews(build_pipeline("none")), **kwargs)


def test_a_method_with_pairs_gets_the_scheduled_momentum(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """The base's cosine schedule runs from ``momentum_base`` to 1 over the run's steps, and
    the target moves by exactly that momentum after a batch."""
    m = _paired(momentum_base=0.9)
    monkeypatch.setattr(m, "total_steps", lambda: 101)
    assert m.momentum_at(0) == pytest.approx(0.9, abs=1e-12)
    assert m.momentum_at(50) == pytest.approx(0.95, abs=1e-12)
    assert m.momentum_at(100) == 1.0
    with torch.no_grad():
        m.head.weight.add_(1.0)
    online = m.head.weight.detach().clone()
    old = m.target.weight.detach().clone()
    m.on_train_batch_end(None, None, 0)  # global step 0 without a trainer: momentum 0.9
    assert torch.equal(m.target.weight, old.mul(0.9).add(online, alpha=1 - 0.9))
    assert torch.equal(m.head.weight, online)


@pytest.mark.parametrize("base", [1.5, -0.1])
def test_momentum_base_outside_zero_one_is_refused(base: float) -> None:
    with pytest.raises(ConfigError, match="momentum_base"):
        _paired(momentum_base=base)


def test_a_method_without_pairs_is_untouched() -> None:
    """SimCLR declares no pairs: momentum 1 and nothing changes after a batch."""
    m = tiny_method("simclr")
    assert m.momentum_pairs() == [] and m.momentum_base is None
    assert m.momentum_at(0) == 1.0
    state = {k: v.clone() for k, v in m.state_dict().items()}
    m.on_train_batch_end({"loss": torch.tensor(1.0)}, None, 0)
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in state.items())


class FixedHead(Paired):
    """A head at a fixed rate (SimSiam's predictor), the backbone at twice the schedule."""

    def param_groups(self) -> list[dict[str, Any]]:
        return [{"params": self.backbone.parameters(), "lr_scale": 2.0},
                {"params": self.head.parameters(), "lr": 0.01, "weight_decay": 0.0}]


def test_a_fixed_group_keeps_its_rate_across_scheduler_steps(monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    torch.manual_seed(0)
    m = FixedHead(backbone=TinyBackbone(), views=TwoViews(build_pipeline("none")),
                  optim=OptimConfig(lr=0.1, weight_decay=1e-4))
    monkeypatch.setattr(m, "total_steps", lambda: 10)
    configured = m.configure_optimizers()
    opt, schedule = configured["optimizer"], configured["lr_scheduler"]["scheduler"]
    backbone, head = opt.param_groups
    assert head["weight_decay"] == 0.0 and backbone["weight_decay"] == 1e-4
    factor = warmup_cosine(0, 10)
    for step in range(10):
        assert backbone["lr"] == pytest.approx(0.2 * factor(step), abs=1e-12)
        assert head["lr"] == 0.01
        opt.step()
        schedule.step()
    assert backbone["lr"] == pytest.approx(0.0, abs=1e-12) and head["lr"] == 0.01


def test_norm_and_bias_parameters_can_skip_weight_decay() -> None:
    m = tiny_method("simclr", optim=OptimConfig(lr=0.1, decay_norm_bias=False))
    groups = m.configure_optimizers()["optimizer"].param_groups
    assert [g["weight_decay"] for g in groups] == [5e-4, 0.0]
    assert all(p.ndim > 1 for p in groups[0]["params"])
    assert all(p.ndim == 1 for p in groups[1]["params"])
    trainable = sum(p.numel() for p in m.parameters() if p.requires_grad)
    assert sum(p.numel() for g in groups for p in g["params"]) == trainable


def test_a_bad_group_key_is_a_config_error() -> None:
    from medaug.methods.optim import make_optimizer

    with pytest.raises(ConfigError, match="lr_scael"):
        make_optimizer([{"params": nn.Linear(2, 2).parameters(), "lr_scael": 2.0}],
                       OptimConfig(), 0.1)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
@pytest.mark.parametrize("name", sorted(PINNED))
def test_default_optimiser_is_the_one_of_before(name: str, optimizer: str) -> None:
    """The default groups give what the optimiser over all trainable parameters with one
    warm-up/cosine LambdaLR gave: the same rates, decay and weights after three steps."""
    optim = OptimConfig(optimizer=optimizer, lr=0.05, warmup_epochs=0.0)
    m, ref = tiny_method(name, optim=optim), tiny_method(name, optim=optim)
    configured = m.configure_optimizers()
    opt, schedule = configured["optimizer"], configured["lr_scheduler"]["scheduler"]
    params = [p for p in ref.parameters() if p.requires_grad]
    ref_opt = (torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=5e-4)
               if optimizer == "sgd" else torch.optim.AdamW(params, lr=0.05, weight_decay=5e-4))
    ref_schedule = torch.optim.lr_scheduler.LambdaLR(ref_opt, warmup_cosine(0, 1))
    views = list(float_views(8))
    for model, o, s in ((m, opt, schedule), (ref, ref_opt, ref_schedule)):
        for _ in range(3):
            loss, _ = model.views_loss(views)
            o.zero_grad()
            loss.backward()
            o.step()
            s.step()
    assert len(opt.param_groups) == 1
    assert opt.param_groups[0]["lr"] == ref_opt.param_groups[0]["lr"]
    assert opt.param_groups[0]["weight_decay"] == ref_opt.param_groups[0]["weight_decay"]
    for a, b in zip(m.parameters(), ref.parameters(), strict=True):
        assert torch.equal(a, b)
