"""Compile and channels-last change how a step runs, not what it computes: the loss and the
gradients of a fixed batch agree with the eager, contiguous run within float tolerance; the
state_dict keys stay those of the eager model (checkpoints and exported encoders unchanged);
``auto`` is on for CUDA devices only."""

from __future__ import annotations

import pytest
import torch

from medaug.errors import ConfigError
from medaug.models.speed import check_switch, resolve_switch
from medaug.train.pretrain import build_method
from medaug.train.pretrain_config import PretrainConfig


def _loss_and_grads(compile: str, channels_last: str, method: str = "simclr"
                    ) -> tuple[float, dict[str, torch.Tensor], list[str]]:
    config = PretrainConfig(method=method, ops="flip", backbone="resnet18-small",
                            batch_size=8, compile=compile, channels_last=channels_last,
                            method_args="proj_hidden=32,proj_dim=16", seed=0)
    torch.manual_seed(0)
    m = build_method(config, world=1)
    keys = list(m.state_dict())
    m.train()
    m.on_fit_start()
    images = torch.randint(0, 256, (8, 16, 16), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(1))
    views = m.make_views(images)
    if channels_last == "on":
        assert views[0].is_contiguous(memory_format=torch.channels_last)
        assert m.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    loss, _ = m.views_loss(views)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in m.named_parameters() if p.grad is not None}
    assert list(m.state_dict()) == keys  # in place: no _orig_mod. prefix
    return float(loss.detach()), grads, keys


@pytest.mark.parametrize("switches", [("on", "off"), ("off", "on")],
                         ids=["compile", "channels-last"])
def test_speed_switches_keep_loss_and_gradients(switches: tuple[str, str]) -> None:
    eager_loss, eager_grads, eager_keys = _loss_and_grads("off", "off")
    loss, grads, keys = _loss_and_grads(*switches)
    assert keys == eager_keys
    assert loss == pytest.approx(eager_loss, rel=1e-4, abs=1e-5)
    assert grads.keys() == eager_grads.keys()
    # Per tensor, the gradient's relative error: float32 sums in another order (other kernels,
    # other memory layout) drift by 1e-6 per layer and batch norm over 8 images amplifies
    # that (up to 1.1 % measured for channels-last on the CPU); a wrong graph is off by O(1).
    for name, g in grads.items():
        ref = eager_grads[name]
        error = float((g - ref).norm() / ref.norm().clamp_min(1e-12))
        assert error < 5e-2, f"{name}: relative gradient error {error:.2e}"


def test_auto_is_on_for_cuda_only() -> None:
    assert not resolve_switch("auto", torch.device("cpu"))
    assert resolve_switch("auto", torch.device("cuda", 0))
    assert resolve_switch("on", torch.device("cpu")) and not resolve_switch("off",
                                                                            torch.device("cuda"))
    with pytest.raises(ConfigError, match="must be one of auto, on, off"):
        check_switch("compile", "fast")
    with pytest.raises(ConfigError, match="compile must be auto, on or off"):
        PretrainConfig(compile="fast")
