"""BYOL's target network: exact EMA update, no gradients, momentum schedule, bad settings."""

from __future__ import annotations

import itertools

import pytest
import torch
from method_helpers import float_views, tiny_method

from medaug.errors import ConfigError


def test_ema_update_is_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a batch, each target parameter is ``0.9 * old_target + 0.1 * online`` (the
    momentum the schedule gives), and the online parameters are untouched."""
    m = tiny_method("byol")
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in [*m.backbone.parameters(), *m.projection.parameters()]:
            p.add_(torch.randn(p.shape, generator=g))
    pairs = m.momentum_pairs()
    assert pairs == [(m.backbone, m.target_backbone),
                     (m.projection, m.target_projection)]
    online = [p.detach().clone() for o, _ in pairs for p in o.parameters()]
    old = [p.detach().clone() for _, t in pairs for p in t.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(online, old, strict=True))

    monkeypatch.setattr(m, "momentum_at", lambda step: 0.9)
    m.on_train_batch_end(None, None, 0)

    new = [p.detach() for _, t in pairs for p in t.parameters()]
    assert len(new) == len(old) > 0
    for n, o, x in zip(new, old, online, strict=True):
        # bit-exact against the same float32 operations ...
        assert torch.equal(n, o.mul(0.9).add(x, alpha=1 - 0.9))
        # ... and the textbook formula up to float32 rounding
        torch.testing.assert_close(n, 0.9 * o + 0.1 * x, atol=1e-6, rtol=0)
    after = [p.detach() for o, _ in pairs for p in o.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(after, online, strict=True))


def test_no_update_at_momentum_one() -> None:
    """Without a trainer the schedule has one step and the momentum is 1: the target stays."""
    m = tiny_method("byol")
    with torch.no_grad():
        for p in m.backbone.parameters():
            p.add_(1.0)
    old = [p.detach().clone() for p in m.target_backbone.parameters()]
    assert m.momentum_at(0) == 1.0
    m.on_train_batch_end(None, None, 0)
    assert all(torch.equal(a, b)
               for a, b in zip(m.target_backbone.parameters(), old, strict=True))


def test_target_gets_no_gradient() -> None:
    """Target parameters do not require grad and get none from the loss; every online
    parameter (backbone, projector, predictor) gets a gradient."""
    m = tiny_method("byol")
    target = [*m.target_backbone.parameters(), *m.target_projection.parameters()]
    online = [*m.backbone.parameters(), *m.projection.parameters(), *m.prediction.parameters()]
    assert target and all(not p.requires_grad for p in target)
    assert all(p.requires_grad for p in online)
    loss, _ = m.views_loss(list(float_views(6)))
    loss.backward()
    assert all(p.grad is None for p in target)
    assert all(p.grad is not None for p in online)
    assert any(float(p.grad.abs().sum()) > 0 for p in m.backbone.parameters())


def test_target_starts_as_a_copy_of_the_online_network() -> None:
    """At construction the target parameters equal the online ones but are separate tensors."""
    m = tiny_method("byol")
    for o, t in m.momentum_pairs():
        for po, pt in zip(o.parameters(), t.parameters(), strict=True):
            assert torch.equal(po, pt)
            assert po.data_ptr() != pt.data_ptr()


def test_momentum_schedule_end_points(monkeypatch: pytest.MonkeyPatch) -> None:
    """The momentum is ``momentum_base`` (0.99 by default) at step 0, 1 at the last step and
    after it, non-decreasing in between."""
    total = 100
    m = tiny_method("byol")
    assert m.momentum_base == 0.99
    monkeypatch.setattr(m, "total_steps", lambda: total)
    assert m.momentum_at(0) == pytest.approx(0.99, abs=1e-12)
    assert m.momentum_at(total - 1) == 1.0
    assert m.momentum_at(total) == 1.0
    values = [m.momentum_at(s) for s in range(total + 1)]
    assert all(b >= a for a, b in itertools.pairwise(values))
    assert all(0.99 <= v <= 1.0 for v in values)
    assert 0.99 < values[total // 2] < 1.0
    # half-way (step (total - 1) / 2 of the cosine) sits at the mean of the end points
    m2 = tiny_method("byol", momentum_base=0.9)
    monkeypatch.setattr(m2, "total_steps", lambda: 101)
    assert m2.momentum_at(50) == pytest.approx(0.95, abs=1e-12)


@pytest.mark.parametrize("base", [1.5, -0.1])
def test_bad_momentum_base(base: float) -> None:
    """A momentum base outside ``[0, 1]`` is a ConfigError naming the parameter."""
    with pytest.raises(ConfigError, match="momentum_base"):
        tiny_method("byol", momentum_base=base)
