"""``medaug supervised``: train the supervised baseline on the labels (or a label fraction) and
score it on the test split like a probe (same thresholds from val, same intervals).

One run folder per (label fraction, seed)::

    run.json            resolved config, data fingerprint, status (running/finished/failed/
                        interrupted), written and read by medaug.store
    training.csv        per validation pass: epoch, step, train loss, val AUROC (folders made
                        before the name changed hold it as train_metrics.csv; still read)
    .lock               held (flock) by the process writing the run
    encoder.pt/.json    the backbone at the best val AUROC (loads like a pretraining encoder)
    head.pt             its linear head
    checkpoints/last.ckpt   for --resume
    evaluation.json, predictions.csv, metrics.csv, summary.csv   its test evaluation

With several fractions or seeds, each run is a subfolder ``f<fraction>-s<seed>`` of ``--out``
(finished ones are kept and reused) and ``--out`` holds the evaluation of all of them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

from medaug.augment.pipeline import build_pipeline
from medaug.data.cache import CachedDataset
from medaug.data.config import PrepareConfig, prepare_to_dict
from medaug.data.open import open_dataset
from medaug.errors import TrainingError
from medaug.evaluate.encoders import file_sha256
from medaug.evaluate.features import extract_features
from medaug.evaluate.fractions import label_fraction
from medaug.evaluate.record import (
    METRICS_FILE,
    PREDICTIONS_FILE,
    SUMMARY_FILE,
    write_record,
)
from medaug.evaluate.scoring import PREDICTION_COLUMNS, score_all, summarise
from medaug.methods.optim import OptimConfig
from medaug.models.backbones import create_backbone
from medaug.store import (
    TRAINING_FILE,
    Interrupted,
    load_checkpoint,
    load_encoder,
    lock_run_folder,
    read_run,
    training_log_path,
    write_run_record,
    write_table,
)
from medaug.train.classifier import LabelledData, SupervisedClassifier, load_head
from medaug.train.supervised_config import SupervisedConfig
from medaug.train.trainer import choose_precision, make_trainer

CKPT = Path("checkpoints") / "last.ckpt"


@dataclass
class SupervisedResult:
    """The evaluation of one or several supervised runs."""

    folder: Path
    predictions: pd.DataFrame
    metrics: pd.DataFrame
    summary: pd.DataFrame
    seconds: float


def run_supervised_grid(data: PrepareConfig, config: SupervisedConfig, out: Path,
                        fractions: tuple[float, ...] = (1.0,), seeds: int = 1,
                        name: str = "supervised", resume: bool = False,
                        say: Callable[[str], None] | None = print,
                        callbacks: Sequence[L.Callback] = (),
                        cache: CachedDataset | None = None) -> SupervisedResult:
    """Train (or reuse) one run per label fraction and subset seed and evaluate them all.

    A single fraction of 1 trains in ``out`` itself; otherwise each run is ``out/f<f>-s<s>``.
    Finished subfolders are reused, so a crashed grid continues where it stopped.
    ``callbacks`` are more Lightning callbacks for every run (tests simulate a crash with one).
    ``cache`` is ``data`` already opened (:func:`medaug.data.open.open_dataset`), so a caller
    that runs several stages lists and fingerprints the files once. ``out`` (and each
    subfolder while it trains) is locked (:func:`medaug.store.lock_run_folder`).

    Raises:
        TrainingError: a folder holds a run with other settings or an unfinished one without
            ``resume``, another process writes it, or it cannot be written.
        Interrupted: Ctrl-C (``exit_code`` 130) or SIGTERM (143); ``--resume`` continues.
    """
    with lock_run_folder(Path(out)):
        return _grid(data, config, Path(out), fractions, seeds, name, resume, say, callbacks,
                     cache)


def _grid(data: PrepareConfig, config: SupervisedConfig, out: Path,
          fractions: tuple[float, ...], seeds: int, name: str, resume: bool,
          say: Callable[[str], None] | None, callbacks: Sequence[L.Callback],
          cache: CachedDataset | None) -> SupervisedResult:
    started = time.perf_counter()
    build_pipeline(config.ops)  # a bad spec fails before any data work
    create_backbone(config.backbone)
    cache = cache if cache is not None else open_dataset(data)
    rows = cache.labelled_splits("the supervised baseline")
    grid = [(f, s) for f in fractions for s in range(seeds if f < 1 else 1)]
    single = grid == [(1.0, 0)]
    preds = []
    runs: dict[str, dict] = {}
    for fraction, subset in grid:
        folder = Path(out) if single else Path(out) / f"f{fraction:g}-s{subset}"
        with contextlib.nullcontext() if single else lock_run_folder(folder):
            preds.append(train_one(cache, rows, data, config, folder, fraction, subset, name,
                                   resume=resume or not single, say=say, callbacks=callbacks))
        record = read_run(folder)
        saved = record.raw if record is not None else {}
        runs[str(folder)] = {"fraction": fraction, "subset_seed": subset,
                             "weights_sha256": file_sha256(folder / "encoder.pt"),
                             **{k: saved.get(k) for k in ("best_epoch", "val_auroc",
                                                          "train_images", "epochs")}}
    predictions = pd.concat(preds, ignore_index=True)[list(PREDICTION_COLUMNS)]
    metrics = score_all(predictions, config.threshold, config.bootstrap, 0)
    summary = summarise(metrics)
    write_table(out / PREDICTIONS_FILE, predictions)
    write_table(out / METRICS_FILE, metrics)
    write_table(out / SUMMARY_FILE, summary)
    seconds = time.perf_counter() - started
    write_record(out, {
        "kind": "supervised", "config": {**prepare_to_dict(data),
                                         "supervised": dataclasses.asdict(config)},
        "data": cache.describe(),
        "models": {name: {"spec": str(out), "kind": "supervised", "backbone": config.backbone,
                          "runs": runs}},
        "fractions": list(fractions), "seeds": seeds, "seconds": round(seconds, 2),
        "notes": ["end-to-end head; the best epoch and the threshold are chosen on val",
                  "every label fraction trains for the same number of steps"]})
    return SupervisedResult(out, predictions, metrics, summary, seconds)


def train_one(cache: CachedDataset, rows: dict[str, np.ndarray], data: PrepareConfig,
              config: SupervisedConfig, folder: Path, fraction: float, subset: int, name: str,
              resume: bool, say: Callable[[str], None] | None,
              callbacks: Sequence[L.Callback] = ()) -> pd.DataFrame:
    """Train one supervised run in ``folder`` on ``fraction`` of the train rows of ``rows``
    (:meth:`~medaug.data.cache.CachedDataset.labelled_splits`), or reuse it when it finished
    with the same settings, and return its val and test predictions."""
    frame = cache.manifest.frame
    labels = frame["label"].to_numpy().astype(int)
    train_all, val, test = rows["train"], rows["val"], rows["test"]
    train = train_all[label_fraction(frame.iloc[train_all], fraction, subset)]
    resolved = {**prepare_to_dict(data), "supervised": dataclasses.asdict(config),
                "fraction": fraction, "subset_seed": subset}
    state = _state(folder, resolved, resume)
    if state != "finished":
        _fit(cache, config, folder, resolved, labels, train, val, len(train_all), fraction,
             resume=state == "resume", say=say, callbacks=callbacks)
    elif say is not None:
        say(f"reusing the finished run in {folder}")
    backbone, _ = load_encoder(folder)
    head = load_head(folder)
    out = []
    for split, idx in (("val", val), ("test", test)):
        feats = extract_features(backbone, cache.images, idx)
        with torch.no_grad():
            probs = torch.sigmoid(head(feats).squeeze(1)).numpy().astype(np.float64)
        out.append(pd.DataFrame({
            "model": name, "probe": "end-to-end", "fraction": fraction, "seed": subset,
            "split": split, "row": idx, "patient_id": frame["patient_id"].to_numpy()[idx],
            "study_id": frame["study_id"].to_numpy()[idx], "label": labels[idx],
            "prob": probs}))
    preds = pd.concat(out, ignore_index=True)
    write_table(folder / PREDICTIONS_FILE, preds)
    return preds


def _fit(cache: CachedDataset, config: SupervisedConfig, folder: Path, resolved: dict,
         labels: np.ndarray, train: np.ndarray, val: np.ndarray, n_full: int, fraction: float,
         resume: bool, say: Callable[[str], None] | None,
         callbacks: Sequence[L.Callback] = ()) -> None:
    L.seed_everything(config.seed, workers=True, verbose=False)
    backbone = create_backbone(config.backbone, seed=config.seed)
    n_pos = int(labels[train].sum())
    pos_weight = (len(train) - n_pos) / max(1, n_pos) if config.class_weight else None
    info = {"image_size": cache.images.shape[-1], "clahe": bool(resolved["preprocess"]["clahe"]),
            "method": "supervised", "ops": config.ops, "data_fingerprint": cache.fingerprint,
            "label_fraction": fraction}
    module = SupervisedClassifier(backbone, build_pipeline(config.ops),
                                  OptimConfig(config.optimizer, config.lr, config.weight_decay),
                                  pos_weight=pos_weight, seed=config.seed, export_to=folder,
                                  backbone_name=config.backbone, encoder_info=info, say=say)
    datamodule = LabelledData(cache.images, labels, train, val, config.batch_size,
                              seed=config.seed, workers=config.workers)
    steps_full = config.epochs * max(1, n_full // config.batch_size)
    steps_per_epoch = max(1, len(train) // datamodule.batch_size)
    epochs = max(1, math.ceil(steps_full / steps_per_epoch))
    every = max(1, epochs // config.epochs)  # about `config.epochs` validation passes
    folder.mkdir(parents=True, exist_ok=True)
    _write_run(folder, resolved, cache, "running", train_images=len(train), epochs=epochs)
    resume_from = folder / CKPT if resume and (folder / CKPT).is_file() else None
    if resume_from is not None:
        load_checkpoint(resume_from)  # refuses unsafe or foreign content with one line
    if say is not None:
        say(f"supervised {config.backbone} on {len(train)} labelled {cache.manifest.name} "
            f"train images ({100 * fraction:g}% of the labels) for {epochs} epochs "
            f"({steps_per_epoch * epochs} steps) -> {folder}")
    logger = L.pytorch.loggers.CSVLogger(folder, name="", version="log")
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(
        dirpath=folder / CKPT.parent, filename="last", save_top_k=1,
        enable_version_counter=False, save_on_train_epoch_end=False)
    trainer = make_trainer(accelerator=config.accelerator, devices=1, num_nodes=1,
                       strategy="auto", precision=choose_precision(config),
                       max_epochs=epochs, check_val_every_n_epoch=every, logger=logger,
                       callbacks=[*callbacks, checkpoint], enable_progress_bar=False,
                       enable_model_summary=False, num_sanity_val_steps=0,
                       use_distributed_sampler=False, log_every_n_steps=max(1, steps_per_epoch))
    try:
        trainer.fit(module, datamodule=datamodule,
                    ckpt_path=str(resume_from) if resume_from is not None else None,
                    weights_only=True)
    except (KeyboardInterrupt, SystemExit) as exc:  # Lightning: SIGTERM, or Ctrl-C -> exit(1)
        _collect_log(folder)
        code = 143 if isinstance(exc, SIGTERMException) else 130
        _write_run(folder, resolved, cache, "interrupted",
                   reason=f"{'SIGTERM' if code == 143 else 'Ctrl-C'}; continue with --resume",
                   train_images=len(train), epochs=epochs)
        raise Interrupted(f"interrupted: continue with medaug supervised --resume --out "
                          f"{shlex.quote(str(folder))}", exit_code=code) from exc
    except BaseException as exc:
        _collect_log(folder)
        _write_run(folder, resolved, cache, "failed", reason=f"{type(exc).__name__}: {exc}",
                   train_images=len(train), epochs=epochs)
        raise
    if int(module.best_epoch) < 0:
        module.best_auroc.fill_(float("nan"))
        module.export(folder)  # validation AUROC was never defined: keep the last weights
    _collect_log(folder)
    _write_run(folder, resolved, cache, "finished", train_images=len(train), epochs=epochs,
               best_epoch=int(module.best_epoch), val_auroc=float(module.best_auroc))
    if say is not None:
        say(f"best val AUROC {float(module.best_auroc):.3f} at epoch {int(module.best_epoch)}")


def _state(folder: Path, resolved: dict, resume: bool) -> str:
    """``fresh``, ``resume`` or ``finished`` for a run folder (a finished run is reused only
    when its settings are the same).

    Raises:
        TrainingError: the folder holds a run with other settings, or one that did not finish
            and ``resume`` is false.
    """
    record = read_run(folder)  # a garbage run.json is one line here
    if record is None:
        return "fresh"
    same = _training_settings(record.config) == _training_settings(resolved)
    if record.status == "finished" and same:
        return "finished"
    if not same:
        raise TrainingError(f"{folder} holds a supervised run with other settings; choose "
                            "another --out")
    if not resume:
        raise TrainingError(f"{folder} holds an unfinished run; continue it with --resume")
    return "resume"


def _training_settings(resolved: dict) -> dict:
    """The settings that make a run what it is: everything but how it is scored (threshold
    rule, bootstrap replicates), so a finished run can be scored again without training."""
    plain = json.loads(json.dumps(resolved, default=str))
    for key in SupervisedConfig.SCORING:
        (plain.get("supervised") or {}).pop(key, None)
    return plain


def _collect_log(folder: Path) -> None:
    """Add Lightning's CSV log (epoch, step, loss, val_auroc) to ``training.csv``: a
    resumed run's Lightning log starts afresh, so earlier epochs are kept from the file (or
    from an older folder's ``train_metrics.csv``, removed once moved) and epochs trained again
    are replaced."""
    log = folder / "log" / "metrics.csv"
    if not log.is_file():
        return
    frame = pd.read_csv(log)
    cols = [c for c in ("epoch", "step", "loss", "val_auroc") if c in frame.columns]
    new = frame[cols].groupby("epoch", as_index=False).last()
    old_path = training_log_path(folder)
    if old_path.is_file():
        old = pd.read_csv(old_path)
        new = pd.concat([old[~old["epoch"].isin(new["epoch"])], new], ignore_index=True)
    write_table(folder / TRAINING_FILE, new.sort_values("epoch").reset_index(drop=True))
    if old_path.name != TRAINING_FILE:
        old_path.unlink(missing_ok=True)


def _write_run(folder: Path, resolved: dict, cache: CachedDataset, status: str,
               reason: str | None = None, **extra: object) -> None:
    write_run_record(folder, status, resolved, cache.describe(), reason=reason, **extra)
