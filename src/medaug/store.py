"""Run and evaluation folders: their file names, their records, one atomic write, and the
weights they hold (encoder, head, probe).

Every file medaug leaves is written to a temporary file in the same folder and renamed into
place, so a crash never leaves a torn file behind. A run's encoder is ``encoder.pt`` (a plain
``state_dict`` of the backbone) with ``encoder.json`` (how to rebuild the module it loads into,
with torchvision alone).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from medaug.errors import MedaugError, TrainingError
from medaug.models.backbones import create_backbone, feature_dim, recipe

ENCODER_FILE = "encoder.pt"
ENCODER_INFO = "encoder.json"
#: A run folder's record: resolved config, data fingerprint, status.
RUN_FILE = "run.json"
#: Per-epoch (or per-validation-pass) training rows of a run folder.
TRAINING_FILE = "training.csv"

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


def atomic_write(path: Path, data: bytes | str) -> Path:
    """Write ``data`` at ``path`` through a temporary file in the same folder renamed into
    place (readers see the old file or the new one, never a torn one); returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as indented JSON, atomically (:func:`atomic_write`)."""
    return atomic_write(path, json.dumps(data, indent=2, default=str) + "\n")


def write_table(path: Path, frame: pd.DataFrame) -> Path:
    """Write ``frame`` as CSV, atomically (:func:`atomic_write`)."""
    return atomic_write(path, frame.to_csv(index=False))


def save_png(figure: Any, path: Path, dpi: int = 110) -> Path:
    """Save a matplotlib figure as PNG, atomically, and close it; returns ``path``."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return atomic_write(path, buffer.getvalue())


@dataclass(frozen=True)
class RunRecord:
    """What ``run.json`` says of a run folder.

    Attributes:
        status: ``running``, ``finished``, ``interrupted`` or ``failed``.
        config: the resolved config sections (``data``, ``preprocess``, the stage's own).
        data: the data block (name, fingerprint, cache, image counts).
        raw: the whole record.
    """

    status: str
    config: dict[str, Any]
    data: dict[str, Any]
    raw: dict[str, Any]


def read_run(folder: Path) -> RunRecord | None:
    """The record of run folder ``folder``, or ``None`` when it has no ``run.json``.

    Raises:
        TrainingError: a ``run.json`` that is not a medaug run record (the message names it
            and says what to do).
    """
    path = Path(folder) / RUN_FILE
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise TrainingError(f"{path}: not a medaug run record ({exc}); restore it or start a "
                            "new run in another folder") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("config"), dict) \
            or not isinstance(raw.get("status"), str):
        raise TrainingError(f"{path}: not a medaug run record (no status and config); restore "
                            "it or start a new run in another folder")
    data = raw.get("data")
    return RunRecord(raw["status"], raw["config"], data if isinstance(data, dict) else {}, raw)


def saved_data_config(folder: Path) -> tuple[dict[str, Any], str] | None:
    """The ``data`` and ``preprocess`` sections a run folder was made with, and the record's
    path (for messages); ``None`` when ``folder`` holds no run record."""
    record = read_run(folder) if Path(folder).is_dir() else None
    if record is None:
        return None
    sections = {k: record.config[k] for k in ("data", "preprocess") if k in record.config}
    return sections, str(Path(folder) / RUN_FILE)


def medaug_version() -> str:
    """The installed medaug version (recorded beside every artefact)."""
    try:
        return version("medaug")
    except PackageNotFoundError:  # run from a source tree that was not installed
        return "unknown (not installed)"
