"""Training without a Trainer: one step per method, a loss that falls on a fixed batch,
deterministic views, registry and config errors, the NaN guard and the lr schedule."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from lightly.models.utils import update_momentum
from method_helpers import float_views, tiny_method, uint8_batch
from torch import Tensor

from medaug.augment import TwoViews, build_pipeline
from medaug.errors import ConfigError, TrainingError
from medaug.methods import OptimConfig, SSLMethod, available_methods, create_method
from medaug.methods.optim import warmup_cosine
from medaug.models.backbones import create_backbone

METHODS = available_methods()


def _resnet_method(name: str, pipeline: str = "rotate+flip", seed: int = 0) -> SSLMethod:
    torch.manual_seed(seed)
    extra = {"temperature": 0.2} if name == "simclr" else {}
    return create_method(name, backbone=create_backbone("resnet18"),
                         views=TwoViews(build_pipeline(pipeline)), seed=seed, proj_dim=16,
                         proj_hidden=32, **extra)


@pytest.mark.parametrize("name", METHODS)
def test_one_training_step_on_cpu(name: str) -> None:
    """make_views on a uint8 batch, views_loss, backward and an SGD step: the loss is finite
    and the backbone's weights move."""
    m = _resnet_method(name)
    batch = uint8_batch(8, 32)
    v1, v2 = m.make_views(batch)
    assert v1.shape == v2.shape == (8, 1, 32, 32)
    assert v1.dtype == v2.dtype == torch.float32
    assert float(v1.min()) >= 0.0 and float(v1.max()) <= 1.0
    before = [p.detach().clone() for p in m.backbone.parameters()]
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.05)
    loss, emb = m.views_loss([v1, v2])
    assert loss.shape == () and bool(torch.isfinite(loss))
    assert emb.shape == (8, 16)
    opt.zero_grad()
    loss.backward()
    opt.step()
    after = list(m.backbone.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(after, before, strict=True))
    assert all(bool(torch.isfinite(p).all()) for p in after)


def _fit(m: SSLMethod, v1: Tensor, v2: Tensor, steps: int) -> tuple[float, float]:
    """``steps`` SGD steps on fixed views (BYOL's EMA after each); initial and final loss."""
    params = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9)
    with torch.no_grad():
        initial = float(m.views_loss([v1, v2])[0])
    for step in range(steps):
        loss, _ = m.views_loss([v1, v2])
        assert bool(torch.isfinite(loss))
        opt.zero_grad()
        loss.backward()
        opt.step()
        momentum = m.momentum_at(step + 1)
        for online, target in m.momentum_pairs():
            update_momentum(online, target, momentum)
    with torch.no_grad():
        final = float(m.views_loss([v1, v2])[0])
    return initial, final


@pytest.mark.parametrize("seed", [0, 1])
def test_simclr_loss_falls_on_a_fixed_batch(seed: int) -> None:
    """20 SGD steps on one fixed pair of views at least halve SimCLR's loss."""
    m = tiny_method("simclr", seed=seed)
    initial, final = _fit(m, *float_views(8, seed=seed, noise=1.0), steps=20)
    assert initial > 0.5
    assert final < 0.5 * initial


@pytest.mark.parametrize("seed", [0, 1])
def test_byol_loss_falls_on_a_fixed_batch(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """20 SGD steps with the EMA update after each lower BYOL's loss by more than 0.5
    (of its range of 4) and the target moves."""
    m = tiny_method("byol", seed=seed)
    monkeypatch.setattr(m, "total_steps", lambda: 20)
    target_before = [p.detach().clone() for p in m.target_backbone.parameters()]
    initial, final = _fit(m, *float_views(8, seed=seed), steps=20)
    assert final < initial - 0.5
    assert any(not torch.equal(a, b)
               for a, b in zip(m.target_backbone.parameters(), target_before, strict=True))


def test_make_views_is_deterministic_per_seed() -> None:
    """Same seed (and step): identical views; another seed: other views; the two views of a
    batch differ from each other."""
    batch = uint8_batch(6, 16)
    a = tiny_method("simclr", pipeline="rotate+flip", seed=3)
    b = tiny_method("simclr", pipeline="rotate+flip", seed=3)
    c = tiny_method("simclr", pipeline="rotate+flip", seed=4)
    a1, a2 = a.make_views(batch)
    a1_again, a2_again = a.make_views(batch)
    b1, b2 = b.make_views(batch)
    c1, c2 = c.make_views(batch)
    assert torch.equal(a1, a1_again) and torch.equal(a2, a2_again)
    assert torch.equal(a1, b1) and torch.equal(a2, b2)
    assert not torch.equal(a1, c1) and not torch.equal(a2, c2)
    assert not torch.equal(a1, a2)


def test_view_seed_changes_with_step_and_seed() -> None:
    """The generator seed depends on the step and on the seed."""
    a = tiny_method("simclr", seed=3)
    b = tiny_method("simclr", seed=4)
    assert a.view_seed(0) != a.view_seed(1)
    assert a.view_seed(0) != b.view_seed(0)


def test_identity_views_are_the_scaled_images() -> None:
    """With the identity pipeline both views are the batch divided by 255."""
    batch = uint8_batch(4, 16)
    m = tiny_method("byol", pipeline="none")
    v1, v2 = m.make_views(batch)
    want = batch.float().div(255).unsqueeze(1)
    assert torch.equal(v1, want) and torch.equal(v2, want)


def test_registry() -> None:
    """Both methods are registered; an unknown name is a ConfigError listing them."""
    assert {"simclr", "byol"} <= set(available_methods())
    with pytest.raises(ConfigError, match="nope") as info:
        create_method("nope", backbone=create_backbone("resnet18"),
                      views=TwoViews(build_pipeline("none")))
    assert "simclr" in str(info.value) and "byol" in str(info.value)


@pytest.mark.parametrize("temperature", [0.0, -0.5])
def test_simclr_bad_temperature(temperature: float) -> None:
    """A SimCLR temperature <= 0 is a ConfigError naming the parameter."""
    with pytest.raises(ConfigError, match="temperature"):
        tiny_method("simclr", temperature=temperature)


@pytest.mark.parametrize("name", METHODS)
def test_unknown_optimizer(name: str) -> None:
    """An optimizer other than sgd and adamw is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="adam'"):
        tiny_method(name, optim=OptimConfig(optimizer="adam"))


@pytest.mark.parametrize("name", METHODS)
def test_nan_loss_raises_training_error(name: str) -> None:
    """A NaN loss stops training at the next step's end or at the epoch's end, whichever comes
    first, with a TrainingError that says nan and points to the checkpoints; finite losses
    pass."""
    m = tiny_method(name)
    batch = uint8_batch(4, 16)
    m.on_train_batch_end({"loss": torch.tensor(1.5)}, batch, 0)
    m.on_train_batch_end({"loss": torch.tensor(float("nan"))}, batch, 1)
    with pytest.raises(TrainingError, match=r"(?i)\bnan\b") as info:
        m.on_train_batch_end({"loss": torch.tensor(1.0)}, batch, 2)
    assert "checkpoint" in str(info.value)
    assert name in str(info.value)
    m.on_train_batch_end({"loss": torch.tensor(float("nan"))}, batch, 3)
    with pytest.raises(TrainingError, match=r"(?i)\bnan\b"):
        m.on_train_epoch_end()
    m.on_train_epoch_end()  # nothing pending any more


def test_infinite_loss_raises_training_error() -> None:
    """An infinite loss is caught by the same guard."""
    m = tiny_method("simclr")
    with pytest.raises(TrainingError, match="inf"):
        m.check_loss(torch.tensor(float("inf")))


def test_warmup_cosine() -> None:
    """Linear warm-up from ``1/warmup`` to 1, 1 at ``step == warmup``, 0.5 half-way through
    the cosine, 0 at ``total`` and after it; non-increasing after the warm-up."""
    warmup, total = 10, 110
    f = warmup_cosine(warmup, total)
    ramp = [f(s) for s in range(warmup)]
    assert ramp == pytest.approx([(s + 1) / warmup for s in range(warmup)])
    assert all(b > a for a, b in itertools.pairwise(ramp))
    assert f(warmup - 1) == pytest.approx(1.0)
    assert f(warmup) == pytest.approx(1.0)
    assert f(warmup + (total - warmup) // 2) == pytest.approx(0.5)
    assert f(total) == pytest.approx(0.0, abs=1e-12)
    assert f(total + 50) == pytest.approx(0.0, abs=1e-12)
    decay = [f(s) for s in range(warmup, total + 1)]
    assert all(b <= a for a, b in itertools.pairwise(decay))
    assert all(0.0 <= v <= 1.0 for v in decay)
    # a quarter of the way: 0.5 * (1 + cos(pi / 4))
    assert f(warmup + 25) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))


def test_warmup_cosine_without_warmup() -> None:
    """No warm-up: the factor starts at 1 and ends at 0."""
    f = warmup_cosine(0, 100)
    assert f(0) == 1.0
    assert f(50) == pytest.approx(0.5)
    assert f(100) == pytest.approx(0.0, abs=1e-12)
