"""The encoder a run leaves: ``encoder.pt`` (a plain ``state_dict`` of the backbone) and
``encoder.json`` (how to rebuild the module it loads into, with torchvision alone).

Both are written to a temporary file and renamed into place, so a crash never leaves a torn
encoder behind.
"""

from __future__ import annotations

import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch
from torch import nn

from medaug.errors import MedaugError, TrainingError
from medaug.models.backbones import create_backbone, feature_dim, recipe

ENCODER_FILE = "encoder.pt"
ENCODER_INFO = "encoder.json"

def export_encoder(backbone: nn.Module, folder: Path, name: str, **info: Any) -> Path:
    """Write ``folder/encoder.pt`` (CPU ``state_dict``) and ``folder/encoder.json``
    (backbone name, feature width, the torchvision recipe, and ``info``)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = save_state_dict(backbone, folder / ENCODER_FILE)
    stem = next((m for m in backbone.modules() if isinstance(m, nn.Conv2d)), None)
    meta = {**info, "backbone": name, "in_chans": stem.in_channels if stem is not None else 1,
            "feature_dim": feature_dim(backbone),
            "torchvision": recipe(name)}
    write_json(folder / ENCODER_INFO, meta)
    return path


def save_state_dict(module: nn.Module, path: Path) -> Path:
    """Save a CPU copy of ``module``'s ``state_dict`` at ``path`` through a temporary file
    renamed into place; returns ``path``."""
    state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_encoder(path: Path) -> tuple[nn.Module, dict[str, Any]]:
    """The backbone saved in a run folder (or at ``encoder.pt`` with ``encoder.json`` beside
    it), with its info.

    Raises:
        TrainingError: no encoder there, or its weights do not fit the recorded backbone.
    """
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    weights, meta_path = folder / ENCODER_FILE, folder / ENCODER_INFO
    if not weights.is_file() or not meta_path.is_file():
        raise TrainingError(f"{folder}: no {ENCODER_FILE} with {ENCODER_INFO} beside it (is it a "
                            "finished `medaug pretrain` run folder?)")
    try:
        meta = json.loads(meta_path.read_text())
        module = create_backbone(meta["backbone"], in_chans=int(meta.get("in_chans", 1)))
    except (ValueError, KeyError, TypeError, MedaugError) as exc:
        raise TrainingError(f"{meta_path}: not a valid encoder description ({exc})") from exc
    try:
        module.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except (RuntimeError, OSError, EOFError) as exc:
        raise TrainingError(f"{weights}: weights do not fit backbone {meta['backbone']!r}: "
                            f"{exc}") from exc
    return module, meta


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON through a temporary file renamed into place."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def medaug_version() -> str:
    """The installed medaug version (recorded beside every artefact)."""
    try:
        return version("medaug")
    except PackageNotFoundError:  # run from a source tree that was not installed
        return "unknown (not installed)"
