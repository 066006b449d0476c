"""MoCo v3: the loss is lightly's NTXentLoss on (prediction of one view, momentum key of the
other) symmetrised, the key network moves only by the base's EMA schedule and gets no
gradient, bad settings are ConfigErrors."""

from __future__ import annotations

import pytest
import torch
from lightly.loss import NTXentLoss
from method_helpers import float_views

from medaug.augment import TwoViews, build_pipeline
from medaug.errors import ConfigError
from medaug.methods import SSLMethod, create_method
from medaug.models.backbones import create_backbone

SMALL = {"proj_dim": 16, "proj_hidden": 32}


def _mocov3(**kwargs: object) -> SSLMethod:
    torch.manual_seed(0)
    return create_method("mocov3", backbone=create_backbone("resnet18-small"),
                         views=TwoViews(build_pipeline("flip")), **{**SMALL, **kwargs})


def _queries_keys(m: SSLMethod, views: list[torch.Tensor]
                  ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    queries = [m.prediction(m.projection(m.backbone(v))) for v in views]
    keys = [m.target_projection(m.target_backbone(v)) for v in views]
    return queries, keys


def test_loss_is_lightlys_symmetrised_ntxent_of_queries_and_keys() -> None:
    """Two views: ``(NTXent(q0, k1) + NTXent(q1, k0)) / 2`` with a fresh lightly
    ``NTXentLoss(temperature=0.2, memory_bank_size=0)``; embeddings are the online
    projections of the first view."""
    m = _mocov3()
    views = list(float_views(8))
    with torch.no_grad():
        loss, embeddings = m.views_loss(views)
        (q0, q1), (k0, k1) = _queries_keys(m, views)
        ref = NTXentLoss(temperature=0.2, memory_bank_size=0)
        expected = (ref(q0, k1) + ref(q1, k0)) / 2
        torch.testing.assert_close(loss, expected)
        torch.testing.assert_close(embeddings, m.projection(m.backbone(views[0])))


def test_three_views_average_the_ordered_pairs() -> None:
    """Three views: the mean of NTXent(q_i, k_j) over the six ordered pairs i != j."""
    m = _mocov3()
    v0, v1 = float_views(8)
    views = [v0, v1, v0.flip(-1)]
    with torch.no_grad():
        loss, _ = m.views_loss(views)
        q, k = _queries_keys(m, views)
        ref = NTXentLoss(temperature=0.2, memory_bank_size=0)
        expected = torch.stack([ref(q[i], k[j]) for i in range(3) for j in range(3)
                                if i != j]).mean()
    torch.testing.assert_close(loss, expected)


def test_criterion_matches_lightly_on_fixed_tensors() -> None:
    """The criterion built from ``temperature`` equals lightly's NTXentLoss of the same
    temperature on fixed projections."""
    m = _mocov3(temperature=0.5)
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(6, 16, generator=g), torch.randn(6, 16, generator=g)
    torch.testing.assert_close(m.criterion(a, b),
                               NTXentLoss(temperature=0.5, memory_bank_size=0)(a, b))


def test_key_network_moves_by_the_schedule_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key network gets no gradient; after a batch each key parameter is
    ``m * old + (1 - m) * online`` with the scheduled momentum (0.99 at step 0 by default)."""
    m = _mocov3()
    assert m.momentum_pairs() == [(m.backbone, m.target_backbone),
                                  (m.projection, m.target_projection)]
    target = [p for _, t in m.momentum_pairs() for p in t.parameters()]
    assert target and all(not p.requires_grad for p in target)
    loss, _ = m.views_loss(list(float_views(8)))
    loss.backward()
    assert all(p.grad is None for p in target)
    assert all(p.grad is not None for p in m.prediction.parameters())
    with torch.no_grad():
        for p in [*m.backbone.parameters(), *m.projection.parameters()]:
            p.add_(0.5)
    monkeypatch.setattr(m, "total_steps", lambda: 10)
    assert m.momentum_at(0) == pytest.approx(0.99, abs=1e-12)
    online = [p.detach().clone() for o, _ in m.momentum_pairs() for p in o.parameters()]
    old = [p.detach().clone() for p in target]
    m.on_train_batch_end(None, None, 0)
    for new, o, x in zip(target, old, online, strict=True):
        torch.testing.assert_close(new.detach(), 0.99 * o + 0.01 * x, atol=1e-6, rtol=0)
    assert any(not torch.equal(new, o) for new, o in zip(target, old, strict=True))


@pytest.mark.parametrize("bad", [{"temperature": 0.0}, {"proj_layers": 1},
                                 {"momentum_base": 1.5}])
def test_bad_settings(bad: dict[str, float]) -> None:
    """A non-positive temperature, a projector under 2 layers or a momentum outside [0, 1] is
    a ConfigError naming the setting."""
    with pytest.raises(ConfigError, match=next(iter(bad))):
        _mocov3(**bad)
