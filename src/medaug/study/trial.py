"""One trial of a study: pretrain a method under a combination, factor levels and seed through
the store (its run folder is an ordinary ``medaug pretrain`` run, resumed when it stopped),
fit the logistic probe beside the random-init twin of the same seed and backbone, and read
the numbers the study records. References (the random-init probe and the supervised baseline
per seed and data level) are evaluation folders of ``medaug probe`` / ``medaug supervised``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch

from medaug.data.cache import CachedDataset
from medaug.data.config import PrepareConfig
from medaug.evaluate.bootstrap import bootstrap_metrics
from medaug.evaluate.linear_eval import run_probe
from medaug.evaluate.probe_config import ProbeConfig
from medaug.evaluate.record import read_predictions
from medaug.evaluate.scoring import score
from medaug.store import read_run
from medaug.study.layout import TEST_METRICS
from medaug.train.pretrain import run_pretrain
from medaug.train.pretrain_config import PretrainConfig
from medaug.train.supervised import run_supervised_grid
from medaug.train.supervised_config import SupervisedConfig

Say = Callable[[str], None] | None


def device_name() -> str:
    """The device trials run on, as the store records it."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return "cpu"


def run_ssl_trial(data: PrepareConfig, pretrain: PretrainConfig, folder: Path,
                  cache: CachedDataset, fractions: Sequence[float], bootstrap: int,
                  say: Say = None, callbacks: Sequence[L.Callback] = ()) -> dict[str, Any]:
    """Pretrain into ``folder`` (or reuse a finished run there, or resume a stopped one), probe
    it beside its random-init twin into ``folder/probe`` and return the trial's numbers
    (:data:`medaug.study.layout.TRIAL_COLUMNS` that come from the run).

    Raises:
        TrainingError, Interrupted: from :func:`medaug.train.pretrain.run_pretrain`.
    """
    started = time.perf_counter()
    record = read_run(folder)
    if record is None or record.status != "finished":
        resume = record is not None or (folder / "checkpoints" / "last.ckpt").is_file()
        run_pretrain(data, pretrain, folder, resume=resume, callbacks=callbacks,
                     progress=False, say=say, cache=cache)
    elif say is not None:
        say(f"reusing the finished run in {folder}")
    probe_dir = folder / "probe"
    config = ProbeConfig(fractions=tuple(fractions), seeds=3, probes=("logistic",),
                         bootstrap=bootstrap, random_baseline=True)
    result = run_probe(data, [str(folder)], config, probe_dir, say=None, cache=cache)
    name = folder.name
    twin = f"random-init({pretrain.backbone}@{pretrain.seed})"
    numbers = evaluation_numbers(result.predictions, name, bootstrap)
    comp = result.comparisons
    row = comp[(comp["model_a"] == name) & (comp["model_b"] == twin)
               & (comp["level"] == "image") & (comp["metric"] == "auroc")
               & ((comp["fraction"] - 1.0).abs() < 1e-9) & (comp["seed"] == 0)]
    if not row.empty:
        r = row.iloc[0]
        numbers.update(random_test_auroc=float(r["value_b"]), diff_vs_random=float(r["difference"]),
                       diff_lo=float(r["ci_low"]), diff_hi=float(r["ci_high"]),
                       diff_p=float(r["p_value"]))
    epochs = read_run(folder)
    numbers["epochs_done"] = _epochs_done(folder)
    numbers["seconds"] = round(time.perf_counter() - started, 2)
    numbers["device"] = device_name()
    numbers["status"] = epochs.status if epochs is not None else "missing"
    return numbers


def _epochs_done(folder: Path) -> int:
    from medaug.train.monitor import read_training

    rows = read_training(folder)
    return int((rows["epoch"] >= 0).sum()) if not rows.empty else 0


def evaluation_numbers(preds: pd.DataFrame, model: str, bootstrap: int) -> dict[str, float]:
    """Validation AUROC (with its patient-level interval) and log-loss, and every test metric
    of :data:`TEST_METRICS` with its interval, of ``model``'s logistic (or end-to-end) probe
    on all labels (fraction 1, subset 0) in the prediction table ``preds``."""
    rows = preds[(preds["model"] == model) & ((preds["fraction"] - 1.0).abs() < 1e-9)
                 & (preds["seed"] == 0)]
    if "logistic" in set(rows["probe"]):
        rows = rows[rows["probe"] == "logistic"]
    out: dict[str, float] = {}
    val = rows[rows["split"] == "val"]
    y, p = val["label"].to_numpy().astype(int), val["prob"].to_numpy(dtype=np.float64)
    if len(val) and len(set(y)) == 2:
        iv = bootstrap_metrics(y, p, val["patient_id"].to_numpy(), 0.5, bootstrap, 0)["auroc"]
        out.update(val_auroc=iv.value, val_auroc_lo=iv.low, val_auroc_hi=iv.high)
        q = np.clip(p, 1e-7, 1 - 1e-7)
        out["val_logloss"] = float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))
    metric_rows = pd.DataFrame(score(rows, "youden", bootstrap, 0))
    image = metric_rows[metric_rows["level"] == "image"].set_index("metric")
    for name in TEST_METRICS:
        if name in image.index:
            out[f"test_{name}"] = float(image.at[name, "value"])
            out[f"test_{name}_lo"] = float(image.at[name, "ci_low"])
            out[f"test_{name}_hi"] = float(image.at[name, "ci_high"])
    return out


def run_random_reference(data: PrepareConfig, backbone: str, seed: int, folder: Path,
                         cache: CachedDataset, bootstrap: int) -> dict[str, Any]:
    """The random-init probe of ``backbone`` with ``seed`` into ``folder``, and its numbers."""
    started = time.perf_counter()
    config = ProbeConfig(fractions=(1.0,), probes=("logistic",), bootstrap=bootstrap,
                         random_baseline=False)
    result = run_probe(data, [f"random:{backbone}@{seed}"], config, folder, say=None,
                       cache=cache)
    model = str(result.predictions["model"].iat[0])
    return {**evaluation_numbers(result.predictions, model, bootstrap),
            "seconds": round(time.perf_counter() - started, 2), "device": device_name()}


def run_supervised_reference(data: PrepareConfig, pretrain: PretrainConfig, epochs: int,
                             seed: int, folder: Path, cache: CachedDataset, bootstrap: int,
                             say: Say = None) -> dict[str, Any]:
    """The supervised baseline (same backbone, the study's base ops, ``epochs``, ``seed``)
    trained end to end into ``folder`` (resumed when it stopped), and its numbers."""
    started = time.perf_counter()
    config = SupervisedConfig(backbone=pretrain.backbone, epochs=epochs, seed=seed,
                              batch_size=pretrain.batch_size, bootstrap=max(bootstrap, 100),
                              accelerator=pretrain.accelerator)
    run_supervised_grid(data, config, folder, name="supervised", resume=True, say=say,
                        cache=cache)
    preds = read_predictions(folder)
    return {**evaluation_numbers(preds, "supervised", bootstrap),
            "seconds": round(time.perf_counter() - started, 2), "device": device_name()}


def trial_pretrain(base: PretrainConfig, method: str, ops: str, seed: int) -> PretrainConfig:
    """The pretraining settings of one trial: ``base`` with its method, ops and seed."""
    return dataclasses.replace(base, method=method, ops=ops, ops2=None, seed=seed)


def as_attrs(numbers: Mapping[str, Any]) -> dict[str, Any]:
    """Numbers as JSON values for the store (``nan`` becomes ``None``)."""
    out = {}
    for k, v in numbers.items():
        if isinstance(v, float | np.floating):
            out[k] = None if not np.isfinite(v) else float(v)
        elif isinstance(v, np.integer):
            out[k] = int(v)
        else:
            out[k] = v
    return out
