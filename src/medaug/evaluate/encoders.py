"""What ``medaug probe --encoder SPEC`` can evaluate, as a frozen backbone with a record.

================================  =============================================================
``runs/<name>``                   a run folder of ``medaug pretrain`` or ``medaug supervised``
                                  (its ``encoder.pt`` and ``encoder.json``)
``random:<backbone>[@seed]``      the backbone randomly initialised with ``seed`` (default 0):
                                  exactly the weights a pretraining run with that seed starts
                                  from (:func:`random_backbone`)
``imagenet:resnet18|resnet50``    torchvision's ImageNet weights, when they are already in
                                  torch's hub cache (``$TORCH_HOME/hub/checkpoints``); nothing
                                  is downloaded (:class:`MissingWeights` otherwise)
================================  =============================================================
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from medaug.errors import ConfigError, MedaugError
from medaug.models.backbones import create_backbone
from medaug.store import ENCODER_FILE, load_encoder, read_run

#: torchvision's single-channel ImageNet statistics: the mean of the RGB means and stds, the
#: input a conv1 whose weights are summed over RGB expects (timm's ``adapt_input_conv``).
IMAGENET_GRAY_MEAN = 0.449
IMAGENET_GRAY_STD = 0.226


class MissingWeights(MedaugError):
    """Pretrained weights that are not on this machine (nothing is ever downloaded)."""


@dataclass
class Encoder:
    """A frozen backbone to evaluate.

    Attributes:
        name: short label in tables and records (the run folder's name, ``random-init``, ...).
        spec: what the user gave.
        module: maps ``(B, 1, S, S)`` in [0, 1] to ``(B, D)``.
        sha256: fingerprint of the weights (keys the feature cache).
        info: the record of where it came from (``encoder.json``, the run's config, ...).
    """

    name: str
    spec: str
    module: nn.Module
    sha256: str
    info: dict[str, Any] = field(default_factory=dict)


def load_encoder_spec(spec: str, name: str | None = None) -> Encoder:
    """The :class:`Encoder` of ``spec`` (see the module docstring).

    Raises:
        ConfigError: a spec that is neither a run folder nor a known kind.
        TrainingError: a run folder without a loadable encoder.
        MissingWeights: ImageNet weights that are not in the hub cache.
    """
    if spec.startswith("random:"):
        backbone, _, seed = spec.removeprefix("random:").partition("@")
        try:
            seed_value = int(seed) if seed else 0
        except ValueError as exc:
            raise ConfigError(f"encoder {spec!r}: the seed after '@' must be an integer") from exc
        module = random_backbone(backbone, seed_value)
        info = {"kind": "random-init", "backbone": backbone, "seed": seed_value}
        return Encoder(name or f"random-init({backbone}@{seed_value})", spec, module,
                       weights_sha256(module), info)
    if spec.startswith("imagenet:"):
        backbone = spec.removeprefix("imagenet:")
        module, path = imagenet_backbone(backbone)
        info = {"kind": "imagenet", "backbone": backbone, "weights": str(path)}
        return Encoder(name or f"imagenet({backbone})", spec, module, weights_sha256(module),
                       info)
    folder = Path(spec)
    if not folder.exists():
        raise ConfigError(f"encoder {spec!r}: no such run folder (or use random:<backbone>[@seed] "
                          "or imagenet:<backbone>)")
    module, meta = load_encoder(folder)
    folder = folder if folder.is_dir() else folder.parent
    run = read_run(folder)  # a garbage run.json is one line
    info = {"kind": meta.get("method", "encoder"), "folder": str(folder.resolve()),
            "encoder": meta, "run_config": run.config if run else None,
            "run_status": run.status if run else None, "run_data": run.data if run else None}
    return Encoder(name or folder.name, spec, module, file_sha256(folder / ENCODER_FILE), info)


def random_backbone(name: str, seed: int) -> nn.Module:
    """Backbone ``name`` randomly initialised from ``seed``: the weights
    ``medaug pretrain --seed <seed>`` starts from (it builds its backbone the same way)."""
    return create_backbone(name, seed=seed)


def imagenet_backbone(name: str) -> tuple[nn.Module, Path]:
    """torchvision's ImageNet ResNet with a 1-channel ``conv1`` (RGB weights summed) that
    standardises its ``[0, 1]`` input with :data:`IMAGENET_GRAY_MEAN`/``STD`` first.

    Raises:
        ConfigError: a backbone without ImageNet weights here (resnet18 and resnet50 have).
        MissingWeights: the weights file is not in torch's hub cache.
    """
    from torchvision.models import ResNet18_Weights, ResNet50_Weights

    weights = {"resnet18": ResNet18_Weights.IMAGENET1K_V1,
               "resnet50": ResNet50_Weights.IMAGENET1K_V1}.get(name)
    if weights is None:
        raise ConfigError(f"imagenet:{name}: ImageNet weights are available for resnet18 and "
                          "resnet50")
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not path.is_file():
        raise MissingWeights(f"imagenet:{name}: no ImageNet weights at {path} (medaug never "
                             f"downloads; put torchvision's {Path(weights.url).name} there, "
                             "e.g. copied from a machine with internet)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state["conv1.weight"] = state["conv1.weight"].sum(dim=1, keepdim=True)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    module = create_backbone(name)
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise ConfigError(f"{path}: not torchvision's {name} ImageNet weights ({exc})") from exc
    module.register_forward_pre_hook(_standardise)
    return module, path


def _standardise(_: nn.Module, args: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    return ((args[0] - IMAGENET_GRAY_MEAN) / IMAGENET_GRAY_STD, *args[1:])


def weights_sha256(module: nn.Module) -> str:
    """SHA-256 of a module's ``state_dict`` (names, shapes and values)."""
    h = hashlib.sha256()
    for key, value in sorted(module.state_dict().items()):
        h.update(key.encode())
        t = value.detach().cpu().contiguous()
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
