"""``medaug probe``: freeze encoders, fit probes on the training labels (or a fraction of them),
score the test split with patient-level confidence intervals, and compare each encoder with
the same backbone randomly initialised with the same seed.

Every encoder's features of the whole cache are extracted once and kept on disk (keyed by its
weights and the data's fingerprint, :func:`medaug.evaluate.features.cached_features`); probes
are cheap after that. The regularisation strength and the decision threshold come from the
validation split, never from the test split.
"""

from __future__ import annotations

import dataclasses
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
from medaug.evaluate.body_parts import BODY_PARTS_FILE, body_part_table
from medaug.evaluate.encoders import Encoder, MissingWeights, load_encoder_spec
from medaug.evaluate.features import cached_features
from medaug.evaluate.fractions import label_fraction
from medaug.evaluate.metrics import choose_threshold
from medaug.evaluate.probe import LogisticProbe, fit_logistic_probe, knn_probe
from medaug.evaluate.probe_config import ProbeConfig
from medaug.evaluate.record import (
    COMPARISONS_FILE,
    METRICS_FILE,
    PREDICTIONS_FILE,
    SUMMARY_FILE,
    write_record,
)
from medaug.evaluate.scoring import (
    COMPARISON_COLUMNS,
    PREDICTION_COLUMNS,
    empty_frame,
    paired_rows,
    score_all,
    summarise,
)
from medaug.store import PROBES_DIR, probe_file_name, save_probe, write_table

#: Probes fitted in this process, by encoder weights, data fingerprint, name and the probe
#: settings that decide them: a study probes every trial beside the same random-init twin, whose
#: probes are then fitted once per process (fitting is deterministic, so reusing is exact).
_MEMO: dict[tuple, tuple[list[pd.DataFrame], dict[tuple[float, int], LogisticProbe]]] = {}
MEMO_SIZE = 16


@dataclass
class ProbeResult:
    """The tables an evaluation wrote (see :mod:`medaug.evaluate.record`)."""

    folder: Path
    predictions: pd.DataFrame
    metrics: pd.DataFrame
    summary: pd.DataFrame
    comparisons: pd.DataFrame
    seconds: float


def resolve_encoders(specs: Sequence[str], random_baseline: bool,
                     say: Callable[[str], None] | None = None) -> list[Encoder]:
    """Load every spec (ImageNet weights that are not here are skipped with a message), then
    add the random-init twin of each run folder's backbone and seed.

    Raises:
        ConfigError: no spec, two encoders with one name, or nothing left to evaluate.
    """
    if not specs:
        raise ConfigError("probe: give at least one --encoder")
    encoders: list[Encoder] = []
    for spec in specs:
        try:
            encoders.append(load_encoder_spec(spec))
        except MissingWeights as exc:
            if say is not None:
                say(f"skipped {spec}: {exc}")
    if not encoders:
        raise ConfigError("probe: none of the encoders could be loaded (see the messages "
                          "above)")
    for enc in encoders:
        status = enc.info.get("run_status")
        if say is not None and status not in (None, "finished"):
            say(f"note: {enc.spec} is a run whose status is {status!r}; its encoder is the "
                "last one it exported")
    if random_baseline:
        by_sha = {e.sha256: e for e in encoders}
        for enc in list(encoders):
            twin = random_twin_spec(enc)
            if twin is None:
                continue
            baseline = load_encoder_spec(twin, name=f"random-init({twin.split(':', 1)[1]})")
            # the same weights given by the user (e.g. "random:resnet18" for seed 0) count
            baseline = by_sha.setdefault(baseline.sha256, baseline)
            if not any(baseline is e for e in encoders):
                encoders.append(baseline)
            enc.info["random_twin"] = baseline.name
    names = [e.name for e in encoders]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"probe: two encoders are both called {dupes[0]!r}; give run folders "
                          "with different names")
    return encoders


def random_twin_spec(encoder: Encoder) -> str | None:
    """``random:<backbone>@<seed>`` of a run folder's encoder (its starting point), or
    ``None`` for encoders that are not from a run."""
    run = encoder.info.get("run_config") or {}
    meta = encoder.info.get("encoder") or {}
    backbone = meta.get("backbone")
    section = run.get("pretrain") or run.get("supervised") or {}
    if backbone is None or "seed" not in section:
        return None
    return f"random:{backbone}@{int(section['seed'])}"


def run_probe(data: PrepareConfig, specs: Sequence[str], config: ProbeConfig, out: Path,
              say: Callable[[str], None] | None = print, cache: CachedDataset | None = None
              ) -> ProbeResult:
    """Evaluate the encoders of ``specs`` on ``data`` and write an evaluation folder ``out``.
    ``cache`` is ``data`` already opened (:func:`medaug.data.open.open_dataset`; a caller
    that runs several stages opens it once); without it ``data`` is opened here.

    Raises:
        ConfigError: a bad spec or setting (before any data work).
        DataError: a split without images, or without both classes where a probe needs them.
    """
    started = time.perf_counter()
    encoders = resolve_encoders(specs, config.random_baseline, say)
    cache = cache if cache is not None else open_dataset(data)
    frame = cache.manifest.frame
    rows = cache.labelled_splits("a probe")
    device = pick_device(config.device, "probe")
    preds: list[pd.DataFrame] = []
    saved: dict[str, dict] = {}
    for enc in encoders:
        warn_preprocessing(enc, data, say)
        enc.module.to(device)
        feats, reused = cached_features(enc.module, enc.sha256, cache.images, cache.fingerprint,
                                        config.batch_size, device)
        enc.module.cpu()
        if say is not None:
            say(f"{enc.name}: features {feats.shape[1]}-d of {len(feats)} images "
                f"({'from the feature cache' if reused else 'extracted'})")
        memo_key = (enc.sha256, cache.fingerprint, enc.name, config.fractions, config.seeds,
                    config.probes, config.knn_k, config.class_weight)
        if memo_key not in _MEMO:
            fitted: dict[tuple[float, int], LogisticProbe] = {}
            tables = probe_encoder(enc.name, feats, frame, rows, config, say, fitted)
            if len(_MEMO) >= MEMO_SIZE:
                _MEMO.pop(next(iter(_MEMO)))
            _MEMO[memo_key] = (tables, fitted)
        elif say is not None:
            say(f"{enc.name}: probes fitted on these features earlier in this process, reused")
        tables, fitted = _MEMO[memo_key]
        preds.extend(tables)
        if "logistic" in config.probes:
            saved[enc.name] = save_full_probe(Path(out), enc, feats, frame, rows, config,
                                              cache.fingerprint, fitted.get((1.0, 0)))
    predictions = pd.concat(preds, ignore_index=True)[list(PREDICTION_COLUMNS)]
    metrics = score_all(predictions, config.threshold, config.bootstrap, config.seed,
                        config.ci)
    comparisons = _compare_all(predictions, encoders, config)
    summary = summarise(metrics)
    out = Path(out)
    write_table(out / PREDICTIONS_FILE, predictions)
    write_table(out / METRICS_FILE, metrics)
    write_table(out / SUMMARY_FILE, summary)
    write_table(out / COMPARISONS_FILE, comparisons)
    parts = body_part_table(predictions, frame["body_part"].to_numpy(), config.bootstrap,
                            config.seed, config.ci)
    if parts is not None:
        write_table(out / BODY_PARTS_FILE, parts)
    seconds = time.perf_counter() - started
    write_record(out, {
        "kind": "probe", "config": {**prepare_to_dict(data), "probe": dataclasses.asdict(config)},
        "data": {**cache.describe(), "images": {s: len(r) for s, r in rows.items()}},
        "models": {e.name: {"spec": e.spec, "weights_sha256": e.sha256, **e.info}
                   for e in encoders},
        "probes": saved, "seconds": round(seconds, 2),
        "notes": ["threshold and C chosen on the full val split; metrics on test",
                  "intervals: percentile bootstrap over test patients",
                  "fraction 1.0 is one subset (seed 0); smaller fractions draw `seeds` subsets"]})
    return ProbeResult(out, predictions, metrics, summary, comparisons, seconds)


def probe_encoder(name: str, feats: np.ndarray, frame: pd.DataFrame,
                  rows: dict[str, np.ndarray], config: ProbeConfig,
                  say: Callable[[str], None] | None = None,
                  fitted: dict[tuple[float, int], LogisticProbe] | None = None
                  ) -> list[pd.DataFrame]:
    """Prediction tables of every probe, label fraction and seed of one encoder's features
    ``(N, D)`` (rows of ``frame``, the cache's Manifest); ``say`` gets a line per fraction;
    ``fitted`` (when given) gets every logistic probe by ``(fraction, seed)``."""
    labels = frame["label"].to_numpy().astype(int)
    train = rows["train"]
    out = []
    for fraction in config.fractions:
        started = time.perf_counter()
        subsets = config.seeds if fraction < 1 else 1
        for seed in range(subsets):
            pick = train[label_fraction(frame.iloc[train], fraction, seed)]
            for kind in config.probes:
                probs = {}
                if kind == "logistic":
                    model = fit_logistic_probe(feats[pick], labels[pick], feats[rows["val"]],
                                               labels[rows["val"]],
                                               class_weight=config.class_weight, seed=seed)
                    if fitted is not None:
                        fitted[(float(fraction), seed)] = model
                    for split in ("val", "test"):
                        probs[split] = model.predict_proba(feats[rows[split]])
                else:
                    for split in ("val", "test"):
                        probs[split] = knn_probe(feats[pick], labels[pick], feats[rows[split]],
                                                 k=config.knn_k)
                for split in ("val", "test"):
                    idx = rows[split]
                    out.append(pd.DataFrame({
                        "model": name, "probe": kind, "fraction": fraction, "seed": seed,
                        "split": split, "row": idx,
                        "patient_id": frame["patient_id"].to_numpy()[idx],
                        "study_id": frame["study_id"].to_numpy()[idx],
                        "label": labels[idx], "prob": probs[split]}))
        if say is not None:
            say(f"{name}: {' and '.join(config.probes)} probes on {100 * fraction:g}% of the "
                f"labels ({subsets} subset{'s' if subsets > 1 else ''}) in "
                f"{time.perf_counter() - started:.0f} s")
    return out


def save_full_probe(out: Path, enc: Encoder, feats: np.ndarray, frame: pd.DataFrame,
                    rows: dict[str, np.ndarray], config: ProbeConfig, fingerprint: str,
                    probe: LogisticProbe | None = None) -> dict[str, Any]:
    """Write ``out/probes/<model>.npz``: the logistic probe of ``enc`` on all training labels
    (``probe``, else fitted here exactly as :func:`probe_encoder` does at fraction 1, seed 0)
    with its validation threshold, the encoder's weights SHA-256 and the data fingerprint;
    returns its entry of the record's probe index."""
    labels = frame["label"].to_numpy().astype(int)
    train, val = rows["train"], rows["val"]
    if probe is None:
        pick = train[label_fraction(frame.iloc[train], 1.0, 0)]
        probe = fit_logistic_probe(feats[pick], labels[pick], feats[val], labels[val],
                                   class_weight=config.class_weight, seed=0)
    cut = choose_threshold(config.threshold, labels[val], probe.predict_proba(feats[val]))
    meta = {"model": enc.name, "spec": enc.spec, "weights_sha256": enc.sha256,
            "data_fingerprint": fingerprint, "fraction": 1.0, "seed": 0,
            "threshold_rule": str(config.threshold), "class_weight": config.class_weight,
            "C": probe.C, "threshold": cut}
    path = save_probe(out / PROBES_DIR / probe_file_name(enc.name),
                      {**probe.to_arrays(), "threshold": cut}, **meta)
    return {"file": str(path.relative_to(out)), **meta}


def _compare_all(predictions: pd.DataFrame, encoders: list[Encoder], config: ProbeConfig
                 ) -> pd.DataFrame:
    rows: list[dict] = []
    for enc in encoders:
        twin = enc.info.get("random_twin")
        if twin is not None:
            rows.extend(paired_rows(predictions, enc.name, twin,
                                    n_boot=max(config.bootstrap, 1000), seed=config.seed,
                                    level_ci=config.ci))
    if not rows:
        return empty_frame(COMPARISON_COLUMNS)
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))


def warn_preprocessing(enc: Encoder, data: PrepareConfig,
                       say: Callable[[str], None] | None) -> None:
    """Tell ``say`` when ``enc`` was trained at another size or CLAHE setting than ``data``."""
    meta = enc.info.get("encoder") or {}
    size, clahe = meta.get("image_size"), meta.get("clahe")
    pre = data.preprocess
    if say is not None and size is not None and (size != pre.size or clahe != pre.clahe):
        say(f"note: {enc.name} was trained at {size} px with CLAHE {clahe}; evaluating at "
            f"{pre.size} px with CLAHE {pre.clahe}")


def pick_device(name: str, command: str) -> torch.device:
    """The device of ``--device name`` (``auto``: CUDA when there is one).

    Raises:
        ConfigError: ``cuda`` asked for where there is none (``command`` names who asked).
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"{command}: --device cuda, but no CUDA device is available")
    return torch.device(name)
