"""The contract every registered method keeps, parametrised over the registry (a new method
file passes these without editing them): one CPU step on tiny images gives a finite loss and
moves the backbone, the loss falls on a fixed batch, and a NaN loss stops a Lightning run with
a TrainingError. Each method is built as ``medaug pretrain`` builds it, on ``resnet18-small``
at 16 px, with its default arguments except those in its ``SMOKE_ARGS``
(:attr:`medaug.methods.SSLMethod.SMOKE_ARGS`: smoke-test settings of a tiny batch, not
recommendations, e.g. narrower heads for a batch of 8), passed as ``method_args``; the
criteria are the same for every method."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from method_helpers import uint8_batch
from torch import Tensor

from medaug.errors import TrainingError
from medaug.methods import SSLMethod, available_methods
from medaug.methods.args import format_args, method_parameters
from medaug.methods.base import method_class
from medaug.train.data import CacheDataModule
from medaug.train.pretrain import build_method
from medaug.train.pretrain_config import PretrainConfig
from medaug.train.trainer import make_trainer

SIZE = 16
METHODS = available_methods()


def _method(name: str, seed: int = 0, lr: float = 0.05) -> SSLMethod:
    torch.manual_seed(seed)
    config = PretrainConfig(method=name, ops="flip", backbone="resnet18-small", seed=seed,
                            lr=lr, batch_size=8,
                            method_args=format_args(method_class(name).SMOKE_ARGS))
    return build_method(config, world=1)


def test_the_registry_holds_the_methods_shipped() -> None:
    assert {"simclr", "byol"} <= set(METHODS)


@pytest.mark.parametrize("name", METHODS)
def test_smoke_args_are_settings_of_the_method(name: str) -> None:
    """``SMOKE_ARGS`` name constructor arguments of the method and differ from their
    defaults (an entry equal to the default would only hide what the test runs with)."""
    smoke = method_class(name).SMOKE_ARGS
    params = method_parameters(name)
    assert set(smoke) <= set(params), set(smoke) - set(params)
    assert all(params[k].default != v for k, v in smoke.items()), smoke


@pytest.mark.parametrize("name", METHODS)
def test_one_cpu_step_gives_a_finite_loss(name: str) -> None:
    m = _method(name)
    views = m.make_views(uint8_batch(8, SIZE))
    assert len(views) >= 2
    assert all(v.dtype == torch.float32 and v.shape[:2] == (8, 1) for v in views)
    loss, embeddings = m.views_loss(views)
    assert loss.shape == () and bool(torch.isfinite(loss))
    assert embeddings.ndim == 2 and embeddings.shape[0] == 8
    opt = m.configure_optimizers()["optimizer"]
    before = [p.detach().clone() for p in m.backbone.parameters()]
    loss.backward()
    opt.step()
    after = list(m.backbone.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(after, before, strict=True))
    assert all(bool(torch.isfinite(p).all()) for p in after)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", METHODS)
def test_loss_falls_on_a_fixed_batch(name: str, seed: int,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Five steps of the method's own optimiser (and its momentum update, scheduled over those
    steps) on one fixed set of views lower the loss by a tenth of its size (at least 0.1)."""
    steps = 5
    m = _method(name, seed=seed)
    monkeypatch.setattr(m, "total_steps", lambda: steps)
    views = m.make_views(uint8_batch(8, SIZE, seed=seed))
    opt = m.configure_optimizers()["optimizer"]
    with torch.no_grad():
        initial = float(m.views_loss(views)[0])
    for step in range(steps):
        loss, _ = m.views_loss(views)
        opt.zero_grad()
        loss.backward()
        opt.step()
        m.on_train_batch_end({"loss": loss.detach()}, None, step)
    m.on_train_epoch_end()
    with torch.no_grad():
        final = float(m.views_loss(views)[0])
    assert final < initial - 0.1 * max(1.0, abs(initial)), (initial, final)


@pytest.mark.parametrize("name", METHODS)
def test_a_nan_loss_stops_a_run(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``views_loss`` planted to return NaN, a Lightning run on the CPU stops with a
    TrainingError naming the method and the NaN."""
    m = _method(name)
    original = m.views_loss

    def nan_loss(views: list[Tensor]) -> tuple[Tensor, Tensor]:
        loss, embeddings = original(views)
        return loss * float("nan"), embeddings

    monkeypatch.setattr(m, "views_loss", nan_loss)
    images = np.random.default_rng(0).integers(0, 256, (24, SIZE, SIZE), dtype=np.uint8)
    data = CacheDataModule(images, np.arange(24), batch_size=8, seed=0)
    trainer = make_trainer(accelerator="cpu", devices=1, num_nodes=1, max_epochs=1,
                           logger=False, enable_checkpointing=False, enable_progress_bar=False,
                           enable_model_summary=False, use_distributed_sampler=False)
    with pytest.raises(TrainingError, match=rf"(?i)the {name} loss became nan"):
        trainer.fit(m, datamodule=data)
