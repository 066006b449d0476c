"""``medaug explain``: heat maps of several models on the same images, and how faithful each
model's maps are.

An explanation folder holds, each file written through a temporary file renamed into place::

    panel.png                  rows = images, columns = models (heat map + p(abnormal))
    images.csv                 the panel's images: path, patient, label, each model's
                               probability, call (TP/FN/FP/TN) and heat-map maximum
    heatmaps.npz               images (R, S, S) uint8, heat (M, R, S, S), rows, models
    faithfulness.csv           per model: ROAD (MoRF, LeRF, combined) of its heat maps and of
                               random maps on the same test images, with patient-level
                               intervals, how many maps were empty, and the maps' mean centre
                               of mass (row, column; 0 = top / left)
    mean_maps.png              each model's mean heat map over those test images
    mean_heat.npz              the mean maps (M, S, S) and the rows they average
    faithfulness_images.csv    the same per image
    faithfulness_pairs.csv     paired differences between models
    explain.json               resolved config, data fingerprint, each model's origin
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from medaug.data.cache import CachedDataset
from medaug.data.config import PrepareConfig, prepare_to_dict
from medaug.data.open import open_dataset
from medaug.errors import ConfigError
from medaug.evaluate.encoders import load_encoder_spec
from medaug.evaluate.features import cached_features
from medaug.evaluate.linear_eval import pick_device, warn_preprocessing
from medaug.explain.config import ExplainConfig
from medaug.explain.faithfulness import heat_centre, random_maps, road_scores
from medaug.explain.faithfulness_tables import (
    PAIR_COLUMNS,
    PER_IMAGE_COLUMNS,
    SUMMARY_COLUMNS,
    pair_differences,
    summarise_faithfulness,
)
from medaug.explain.gradcam import LogitTarget, ProbabilityTarget, check_method, heat_maps
from medaug.explain.model import Explained, ProbedEncoder, explained_model, has_head
from medaug.explain.panel import plot_mean_maps, plot_panel
from medaug.explain.saved_probe import check_probe_folder, saved_probe
from medaug.explain.selection import mixed_rows, outcomes, rows_for_paths
from medaug.store import provenance, save_npz, write_json, write_table

PANEL_FILE = "panel.png"
IMAGES_FILE = "images.csv"
HEATMAPS_FILE = "heatmaps.npz"
FAITHFULNESS_FILE = "faithfulness.csv"
FAITHFULNESS_IMAGES_FILE = "faithfulness_images.csv"
PAIRS_FILE = "faithfulness_pairs.csv"
RECORD_FILE = "explain.json"
MEAN_MAPS_FILE = "mean_maps.png"
MEAN_HEAT_FILE = "mean_heat.npz"


@dataclass
class ExplainResult:
    """What an explanation wrote (see the module docstring)."""

    folder: Path
    panel: Path
    images: pd.DataFrame
    heat: np.ndarray  # (M, R, S, S)
    faithfulness: pd.DataFrame
    per_image: pd.DataFrame
    pairs: pd.DataFrame
    seconds: float


def run_explain(data: PrepareConfig, specs: Sequence[str], config: ExplainConfig, out: Path,
                say: Callable[[str], None] | None = print, cache: CachedDataset | None = None
                ) -> ExplainResult:
    """Explain the models of ``specs`` (run folders, ``random:``/``imagenet:`` encoders) on
    ``data``'s test images and write an explanation folder ``out``.
    ``cache`` is ``data`` already opened (:func:`medaug.data.open.open_dataset`; a caller
    that runs several stages opens it once); without it ``data`` is opened here.

    Raises:
        ConfigError: no spec, two models with one name, an image path not in the data.
        DataError: a split without images or without both classes.
    """
    started = time.perf_counter()
    if not specs:
        raise ConfigError("explain: give at least one run (--runs)")
    check_method(config.method)
    encoders = [load_encoder_spec(spec, name=display_name(spec)) for spec in specs]
    names = [e.name for e in encoders]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"explain: two models are both called {dupes[0]!r}; give run folders "
                          "with different names")
    for enc in encoders:  # a bad --layer or --probe fails before any data work
        ProbedEncoder(enc.module, torch.nn.Linear(1, 1)).layer(config.layer)
    if config.probe is not None:
        check_probe_folder(Path(config.probe))
    cache = cache if cache is not None else open_dataset(data)
    frame = cache.manifest.frame
    rows = cache.labelled_splits("the probe under the heat maps")
    labels = frame["label"].to_numpy().astype(int)
    chosen = (rows_for_paths(frame, config.paths, cache.manifest.name) if config.paths
              else None)
    device = pick_device(config.device, "explain")
    models: list[Explained] = []
    for enc in encoders:
        warn_preprocessing(enc, data, say)
        enc.module.to(device)
        feats, _ = cached_features(enc.module, enc.sha256, cache.images, cache.fingerprint,
                                   device=device)
        enc.module.cpu()  # each model goes to the device only while it is used
        saved = (saved_probe(Path(config.probe), enc, cache.fingerprint)
                 if config.probe is not None and not has_head(enc) else None)
        models.append(explained_model(enc, feats, labels, rows, config.threshold,
                                      config.class_weight, saved))
        if say is not None:
            say(f"{enc.name}: {models[-1].head}, threshold {models[-1].threshold:.3f} (val)"
                + (f", loaded from {saved.path}" if saved is not None else ""))
    grid = layer_resolution(models[0], cache.images.shape[-1], config.layer)
    if say is not None and grid <= 2:
        say(f"note: at {cache.images.shape[-1]} px the maps of layer {config.layer!r} are "
            f"{grid}x{grid} cells; an earlier layer (--layer layer3 or layer2) gives finer ones")
    if chosen is None:
        test = rows["test"]
        first = models[0]
        chosen = mixed_rows(test, outcomes(labels[test], first.probs[test], first.threshold),
                            config.images, config.seed)
    heat = np.stack([model_maps(m, cache.images, chosen, config, device) for m in models])
    table = _images_table(frame, chosen, models, heat)
    out = Path(out)
    where = ("the last convolutional block" if config.layer == "last"
             else f"encoder.{config.layer}")
    title = (f"{cache.manifest.name}, {cache.config.size} px: {config.method} of the "
             f"{config.target} logit at {where}")
    panel = _panel(cache, chosen, table, models, heat, out / PANEL_FILE, title)
    write_table(out / IMAGES_FILE, table)
    _save_npz(out / HEATMAPS_FILE, images=cache.images[chosen], heat=heat.astype(np.float16),
              rows=chosen, models=np.asarray(names))
    faith = faithfulness(models, cache, rows["test"], config, device, say)
    write_table(out / FAITHFULNESS_IMAGES_FILE, faith.per_image)
    write_table(out / FAITHFULNESS_FILE, faith.summary)
    write_table(out / PAIRS_FILE, faith.pairs)
    if len(faith.rows):
        plot_mean_maps(np.asarray(cache.images[faith.rows]).mean(axis=0), faith.mean_heat,
                       names, out / MEAN_MAPS_FILE,
                       f"mean heat map over {len(faith.rows)} test images\n({config.method}, "
                       f"{config.target}, {where}; empty maps left out)")
        _save_npz(out / MEAN_HEAT_FILE, mean_heat=faith.mean_heat, rows=faith.rows,
                  models=np.asarray(names))
    seconds = time.perf_counter() - started
    write_json(out / RECORD_FILE, {
        "kind": "explain",
        "config": {**prepare_to_dict(data), "explain": dataclasses.asdict(config)},
        "data": {**cache.describe(), "images": {s: len(r) for s, r in rows.items()}},
        "models": {m.name: {**m.info, "encoder": e.info} for m, e in zip(models, encoders,
                                                                        strict=True)},
        "seconds": round(seconds, 2), **provenance(),
        "notes": [f"heat maps at {where} of each encoder, scaled per map to [0, 1]",
                  "probes: logistic regression on all training labels, C and threshold on val"
                  + (f" (loaded from {config.probe}/probes)" if config.probe else ""),
                  "ROAD: pytorch-grad-cam's noisy linear imputation; combined = (LeRF - MoRF)/2 "
                  "of the target probability, higher is more faithful; random maps on the same "
                  "images are the reference",
                  "intervals: percentile bootstrap over test patients"]})
    for m in models:
        m.model.cpu()
    return ExplainResult(out, panel, table, heat, faith.summary, faith.per_image, faith.pairs,
                         seconds)


def display_name(spec: str) -> str | None:
    """A column title for ``spec``: a run folder's name, with its parent's in front when it is
    a leaf of a ``medaug supervised`` grid (``f1-s0`` -> ``knee64-supervised/f1-s0``);
    ``None`` (the encoder's own name) for other specs."""
    path = Path(spec)
    if ":" in spec and not path.exists():
        return None
    if re.fullmatch(r"f[0-9.e-]+-s\d+", path.name) and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return None


def targets_for(model: Explained, rows: np.ndarray, target: str, probability: bool = False
                ) -> list[LogitTarget]:
    """One target per row: the abnormal logit, or the model's own call (``predicted``); as a
    probability (what ROAD watches) when ``probability``."""
    kind = ProbabilityTarget if probability else LogitTarget
    if target == "abnormal":
        return [kind(1) for _ in rows]
    return [kind(int(p >= model.threshold)) for p in model.probs[rows]]


def model_maps(model: Explained, images: np.ndarray, rows: np.ndarray, config: ExplainConfig,
               device: torch.device) -> np.ndarray:
    """Heat maps ``(R, S, S)`` in [0, 1] of cache ``rows`` (images ``(N, S, S)`` uint8)."""
    x = _tensor(images[rows])
    model.model.to(device)
    try:
        return heat_maps(model.model, model.model.layer(config.layer), x,
                         targets_for(model, rows, config.target), config.method,
                         config.batch_size)
    finally:
        model.model.cpu()


@dataclass
class Faithfulness:
    """ROAD and where the heat lies, on the same test images for every model."""

    per_image: pd.DataFrame
    summary: pd.DataFrame
    pairs: pd.DataFrame
    rows: np.ndarray  # (F,) cache rows scored
    mean_heat: np.ndarray  # (M, S, S): each model's mean over its non-empty maps


def faithfulness(models: list[Explained], cache: CachedDataset, test: np.ndarray,
                 config: ExplainConfig, device: torch.device,
                 say: Callable[[str], None] | None = None) -> Faithfulness:
    """ROAD of every model's heat maps and of random maps on the same test images, with each
    map's centre of mass: the per-image table, the per-model summary, the paired differences
    between models and each model's mean map."""
    frame = cache.manifest.frame
    if config.faithfulness_images == 0:
        return Faithfulness(pd.DataFrame(columns=list(PER_IMAGE_COLUMNS)),
                            pd.DataFrame(columns=list(SUMMARY_COLUMNS)),
                            pd.DataFrame(columns=list(PAIR_COLUMNS)), np.zeros(0, np.int64),
                            np.zeros((0, 0, 0), np.float32))
    rng = np.random.default_rng(config.seed)
    count = min(config.faithfulness_images, len(test))
    rows = np.sort(rng.choice(test, size=count, replace=False))
    size = cache.images.shape[-1]
    x = _tensor(cache.images[rows])  # (F, 1, S, S), the same for every model
    tables, mean_maps = [], []
    for k, m in enumerate(models):
        started = time.perf_counter()
        heat = model_maps(m, cache.images, rows, config, device)
        peak = heat.reshape(len(heat), -1).max(axis=1)  # 0: an empty map
        grid = layer_resolution(m, size, config.layer)
        noise = random_maps(len(rows), size, grid, seed=config.seed + 1 + k)
        targets = targets_for(m, rows, config.target, probability=True)
        m.model.to(device)
        own, rand = {}, {}
        try:
            for start in range(0, len(rows), config.batch_size):
                part = slice(start, start + config.batch_size)
                for store, maps in ((own, heat), (rand, noise)):
                    scores = road_scores(m.model, x[part], maps[part], targets[part],
                                         config.percentiles, seed=config.seed + start)
                    for key, value in scores.items():
                        store.setdefault(key, []).append(value)
        finally:
            m.model.cpu()
        tables.append(pd.DataFrame({
            "model": m.name, "row": rows, "patient_id": frame["patient_id"].to_numpy()[rows],
            "label": frame["label"].to_numpy()[rows].astype(int), "prob": m.probs[rows],
            **{f"road_{key}": np.concatenate(v) for key, v in own.items()},
            **{f"random_{key}": np.concatenate(v) for key, v in rand.items()},
            "heat_max": peak,
            **dict(zip(("heat_row", "heat_col"), heat_centre(heat), strict=True))}))
        full = peak > 0
        mean_maps.append(heat[full].mean(axis=0) if full.any() else np.zeros(heat.shape[1:]))
        if say is not None:
            say(f"{m.name}: ROAD on {len(rows)} test images in "
                f"{time.perf_counter() - started:.0f} s")
    per_image = pd.concat(tables, ignore_index=True)[list(PER_IMAGE_COLUMNS)]
    return Faithfulness(per_image, summarise_faithfulness(per_image, config),
                        pair_differences(per_image, config), rows,
                        np.stack(mean_maps).astype(np.float32))


def layer_resolution(model: Explained, size: int, layer: str = "last") -> int:
    """Side of ``layer``'s feature map for ``size`` px inputs (the random maps' grid)."""
    seen: list[int] = []
    handle = model.model.layer(layer).register_forward_hook(
        lambda _m, _i, output: seen.append(int(output.shape[-1])))
    try:
        with torch.no_grad():
            device = next(model.model.parameters()).device
            model.model.eval()(torch.zeros(1, 1, size, size, device=device))
    finally:
        handle.remove()
    return seen[0]


def _tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(images)).float().div_(255).unsqueeze(1)  # (R, 1, S, S)


def _images_table(frame: pd.DataFrame, chosen: np.ndarray, models: list[Explained],
                  heat: np.ndarray) -> pd.DataFrame:
    labels = frame["label"].to_numpy().astype(int)
    tables = []
    for m, maps in zip(models, heat, strict=True):
        tables.append(pd.DataFrame({
            "panel_row": np.arange(len(chosen)), "row": chosen,
            "path": frame["path"].to_numpy()[chosen],
            "index": frame["index"].to_numpy()[chosen] if "index" in frame else -1,
            "patient_id": frame["patient_id"].to_numpy()[chosen],
            "split": frame["split"].to_numpy()[chosen], "label": labels[chosen],
            "model": m.name, "prob": m.probs[chosen], "threshold": m.threshold,
            "call": outcomes(labels[chosen], m.probs[chosen], m.threshold),
            "heat_max": maps.reshape(len(maps), -1).max(axis=1)}))
    return pd.concat(tables, ignore_index=True)


def _panel(cache: CachedDataset, chosen: np.ndarray, table: pd.DataFrame,
           models: list[Explained], heat: np.ndarray, out: Path, title: str) -> Path:
    first = table[table["model"] == models[0].name]
    labels = ["abnormal" if y else "normal" for y in first["label"]]
    captions = []
    for path, index, patient in zip(first["path"], first["index"], first["patient_id"],
                                     strict=True):
        name = Path(str(path)).name
        name = f"{name}#{index}" if name.endswith(".npz") else name
        captions.append(f"{name[-26:]} ({str(patient)[-12:]})")
    probs = np.stack([m.probs[chosen] for m in models])
    calls = np.stack([table[table["model"] == m.name]["call"].to_numpy() for m in models])
    return plot_panel(cache.images[chosen], heat, labels, captions, [m.name for m in models],
                      probs, calls, out, title)


def _save_npz(path: Path, **arrays: Any) -> Path:
    return save_npz(path, **arrays)
