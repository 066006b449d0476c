"""Backbones with a 1-channel input that map ``(B, 1, H, W)`` images to ``(B, D)`` features.

A backbone *is* the library's own module, so its ``state_dict`` loads outside medaug:

* ``resnet18`` / ``resnet50``: torchvision's ResNet (He et al. 2016) whose ``conv1`` takes one
  channel and whose ``fc`` is ``nn.Identity()``.
* ``resnet18-small`` / ``resnet50-small``: the same with the CIFAR stem of SimCLR (Chen et al.
  2020, appendix B.9) for inputs of 64 px and less: ``conv1`` is a 3x3 stride-1 convolution and
  the max-pool is ``nn.Identity()``, so a 32 px image still reaches the last block at 4x4.
* ``timm:<name>``: any timm model, ``timm.create_model(name, in_chans=1, num_classes=0)``,
  randomly initialised (nothing is downloaded).

The constructor a run used is saved beside its encoder (``encoder.json``); the README shows
the three lines that rebuild it with torchvision alone.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torchvision.models import resnet18, resnet50
from torchvision.models.resnet import ResNet

from medaug.errors import ConfigError

_TORCHVISION: dict[str, Callable[[], ResNet]] = {"resnet18": resnet18, "resnet50": resnet50}


def available_backbones() -> list[str]:
    """Names :func:`create_backbone` accepts (plus ``timm:<name>``)."""
    return sorted([*_TORCHVISION, *(f"{n}-small" for n in _TORCHVISION)])


def create_backbone(name: str, in_chans: int = 1, seed: int | None = None) -> nn.Module:
    """A randomly initialised backbone; ``module(x)`` maps ``(B, in_chans, H, W)`` to
    ``(B, feature_dim(module))``. With ``seed``, torch's global generator is seeded with it
    first, so the same name and seed give the same weights (the random-init baseline of a
    pretraining run with that seed).

    Raises:
        ConfigError: an unknown name, or a timm model timm cannot build.
    """
    if seed is not None:
        torch.manual_seed(seed)
    if name.startswith("timm:"):
        return _timm(name.removeprefix("timm:"), in_chans)
    base, small = (name.removesuffix("-small"), True) if name.endswith("-small") else (name, False)
    if base not in _TORCHVISION:
        raise ConfigError(f"unknown backbone {name!r}; choose one of "
                          f"{', '.join(available_backbones())} or timm:<model name>")
    model = _TORCHVISION[base]()  # weights=None: random init, nothing downloaded
    width = model.conv1.out_channels
    if small:
        model.conv1 = nn.Conv2d(in_chans, width, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    else:
        model.conv1 = nn.Conv2d(in_chans, width, kernel_size=7, stride=2, padding=3, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.feature_dim = model.fc.in_features
    model.fc = nn.Identity()
    return model


def feature_dim(module: nn.Module) -> int:
    """Width ``D`` of the features a backbone from :func:`create_backbone` returns."""
    dim = getattr(module, "feature_dim", None) or getattr(module, "num_features", None)
    if not dim:
        raise ConfigError(f"cannot tell the feature width of {type(module).__name__}")
    return int(dim)


def recipe(name: str) -> str:
    """The code that builds backbone ``name`` without medaug (saved beside every encoder)."""
    if name.startswith("timm:"):
        return f"timm.create_model({name.removeprefix('timm:')!r}, in_chans=1, num_classes=0)"
    base, small = (name.removesuffix("-small"), True) if name.endswith("-small") else (name, False)
    stem = ("torch.nn.Conv2d(1, 64, 3, 1, 1, bias=False); m.maxpool = torch.nn.Identity()"
            if small else "torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)")
    return f"m = torchvision.models.{base}(); m.conv1 = {stem}; m.fc = torch.nn.Identity()"


def last_conv_block(module: nn.Module) -> nn.Module:
    """The last convolutional block (Grad-CAM's usual target layer)."""
    if isinstance(module, ResNet):
        return module.layer4[-1]
    children = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    if not children:
        raise ConfigError(f"{type(module).__name__} has no convolutional layer")
    return children[-1]


def _timm(model_name: str, in_chans: int) -> nn.Module:
    try:
        import timm
    except ImportError as exc:  # pragma: no cover - timm is a dependency
        raise ConfigError("timm backbones need the timm package") from exc
    try:
        model = timm.create_model(model_name, pretrained=False, in_chans=in_chans, num_classes=0)
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"timm cannot build {model_name!r}: {exc}") from exc
    with torch.no_grad():
        model.eval()
        probe = model(torch.zeros(1, in_chans, 64, 64))
        model.train()
    model.feature_dim = int(probe.shape[-1])
    return model
