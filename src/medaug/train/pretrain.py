"""``medaug pretrain``: train an encoder without labels and leave a run folder.

A run folder holds::

    run.json            resolved config (data, preprocess, pretrain), data fingerprint, status
    metrics.csv         one row per epoch (see medaug.train.monitor)
    encoder.pt          the backbone's state_dict after the last finished epoch
    encoder.json        how to rebuild that backbone with torchvision alone
    checkpoints/last.ckpt   Lightning checkpoint after the last finished epoch (for --resume)
    curves.png          the metrics per epoch, drawn when the run finishes
    run.log             the lines the run printed, appended (resumed runs add theirs)

Under DDP every process runs this function; only the primary one (global rank 0) checks and
writes the run folder.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
import torch

from medaug.augment.pipeline import build_pipeline
from medaug.augment.views import TwoViews
from medaug.data.cache import CachedDataset, build_cache
from medaug.data.config import PrepareConfig, prepare_to_dict
from medaug.data.datasets import load_dataset
from medaug.errors import ConfigError, TrainingError
from medaug.methods.base import OptimConfig, SSLMethod, create_method
from medaug.models.backbones import create_backbone
from medaug.store import medaug_version, write_json
from medaug.train.curves import plot_curves
from medaug.train.data import CacheDataModule, check_batch
from medaug.train.monitor import KnnSplits, Monitor, read_metrics
from medaug.train.pretrain_config import PretrainConfig
from medaug.train.trainer import choose_precision, is_primary_process, make_trainer, strategy_of

RUN_FILE = "run.json"
LOG_FILE = "run.log"
CURVES_FILE = "curves.png"
CKPT_DIR = "checkpoints"
LAST_CKPT = "last.ckpt"


@dataclass
class PretrainResult:
    """What a finished run left: its folder and per-epoch metrics."""

    folder: Path
    metrics: pd.DataFrame
    cache: CachedDataset
    seconds: float


def run_pretrain(data: PrepareConfig, config: PretrainConfig, out: Path, resume: bool = False,
                 callbacks: Sequence[L.Callback] = (), progress: bool | None = None,
                 say: Callable[[str], None] | None = print) -> PretrainResult:
    """Pretrain an encoder on the train split of ``data`` and write the run folder ``out``.

    Args:
        resume: continue from ``out/checkpoints/last.ckpt``; ``data`` and ``config`` must
            match the saved run except for :attr:`PretrainConfig.RESUMABLE` fields.
        callbacks: more Lightning callbacks (tests use one to simulate a crash).
        progress: show Lightning's progress bar (default: when stderr is a terminal).
        say: prints status lines (``None`` is silent).

    Raises:
        TrainingError: ``out`` holds a run and ``resume`` is false, nothing to resume, a bad
            batch size, or a loss that became NaN (finished epochs' checkpoints stay).
        ConfigError: an unknown method, backbone or optimizer, or a resumed run whose settings
            differ from the saved ones.
    """
    out = Path(out)
    started = time.perf_counter()
    primary = is_primary_process()
    resolved = {**prepare_to_dict(data), "pretrain": dataclasses.asdict(config)}
    ckpt = out / CKPT_DIR / LAST_CKPT
    if primary:
        _check_folder(out, resolved, resume, ckpt)
    world = config.devices * config.num_nodes
    progress = progress if progress is not None else sys.stderr.isatty()
    L.seed_everything(config.seed, workers=True, verbose=False)
    method = build_method(config, world)  # a bad name or spec fails before any data work
    cache = build_cache(load_dataset(data.data.dataset, data.data.options), data.preprocess,
                        progress=progress, resolved=prepare_to_dict(data))
    train_rows = cache.split_indices("train")
    check_batch(len(train_rows), config.batch_size, world, cache.manifest.name)
    datamodule = CacheDataModule(cache.images, train_rows, config.batch_size, seed=config.seed,
                                 workers=config.workers, name=cache.manifest.name)
    info = {"image_size": data.preprocess.size, "clahe": data.preprocess.clahe,
            "method": config.method, "ops": config.ops, "data_fingerprint": cache.fingerprint}
    tell = _teller(out / LOG_FILE, say) if primary else say
    monitor = Monitor(out, config.backbone, _knn_splits(cache, config), info, tell)
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(
        dirpath=out / CKPT_DIR, filename="last", save_top_k=1, every_n_epochs=1,
        save_on_train_epoch_end=True, enable_version_counter=False)
    trainer = make_trainer(
        accelerator=config.accelerator, devices=config.devices, num_nodes=config.num_nodes,
        strategy=strategy_of(config), precision=choose_precision(config),
        max_epochs=config.epochs,
        callbacks=[monitor, *callbacks, checkpoint], logger=False,
        enable_progress_bar=progress,
        enable_model_summary=False, num_sanity_val_steps=0, log_every_n_steps=1,
        use_distributed_sampler=False, default_root_dir=out)
    if primary:
        _write_run(out, resolved, cache, status="running")
        if tell is not None:
            tell(f"pretraining {config.method} ({config.backbone}, ops {config.ops}) on "
                 f"{len(train_rows)} {cache.manifest.name} train images at "
                 f"{data.preprocess.size} px for {config.epochs} epochs -> {out}")
    try:
        trainer.fit(method, datamodule=datamodule, ckpt_path=str(ckpt) if resume else None)
    except (KeyboardInterrupt, SystemExit) as exc:  # Ctrl-C or SIGTERM: Lightning exits
        if primary:
            _write_run(out, resolved, cache, status="interrupted",
                       reason=f"{type(exc).__name__}; continue with --resume")
        raise
    except BaseException as exc:
        if primary:
            _write_run(out, resolved, cache, status="failed", reason=f"{type(exc).__name__}: "
                       f"{exc}")
        raise
    if trainer.interrupted:
        if primary:
            _write_run(out, resolved, cache, status="interrupted")
        raise TrainingError(f"{out}: training was interrupted; continue it with --resume")
    if primary:
        _write_run(out, resolved, cache, status="finished")
        plot_curves([out], out / CURVES_FILE, labels=[config.method])
    return PretrainResult(out, read_metrics(out), cache, time.perf_counter() - started)


def _teller(path: Path, say: Callable[[str], None] | None) -> Callable[[str], None]:
    """``say`` that also appends each line, time-stamped, to ``path``."""

    def tell(line: str) -> None:
        if say is not None:
            say(line)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")

    return tell


def build_method(config: PretrainConfig, world: int) -> SSLMethod:
    """The method, backbone and two-view augmentation of ``config`` for ``world`` processes
    (SimCLR gathers negatives across processes when there are several).

    Raises:
        ConfigError, AugmentError: an unknown method, backbone, optimizer or op spec.
    """
    views = TwoViews(build_pipeline(config.ops),
                     build_pipeline(config.ops2) if config.ops2 else None)
    base: dict[str, Any] = {
        "backbone": create_backbone(config.backbone, seed=config.seed), "views": views,
        "seed": config.seed,
        "optim": OptimConfig(config.optimizer, config.lr, config.weight_decay,
                             config.warmup_epochs)}
    extra: dict[str, Any] = {}
    if config.proj_hidden is not None:
        extra["proj_hidden"] = config.proj_hidden
    if config.proj_dim is not None:
        extra["proj_dim"] = config.proj_dim
    if config.method == "simclr":
        extra.update(temperature=config.temperature, gather_distributed=world > 1)
    elif config.method == "byol":
        extra["momentum_base"] = config.momentum_base
    return create_method(config.method, **base, **extra)


def _knn_splits(cache: CachedDataset, config: PretrainConfig) -> KnnSplits | None:
    labels = cache.manifest.frame["label"].to_numpy()
    bank, query = cache.split_indices("train"), cache.split_indices("val")
    if len(query) == 0 or len(set(labels[bank])) < 2:
        return None
    if len(bank) > config.knn_max_bank:
        pick = torch.randperm(len(bank), generator=torch.Generator().manual_seed(config.seed))
        bank = bank[pick.numpy()[:config.knn_max_bank]]
    return KnnSplits(cache.images, bank, labels[bank], query, labels[query], config.knn_k)


def _check_folder(out: Path, resolved: dict[str, Any], resume: bool, ckpt: Path) -> None:
    run_file = out / RUN_FILE
    if not resume:
        if run_file.is_file() or ckpt.is_file():
            raise TrainingError(f"{out} already holds a run; continue it with --resume, or "
                                "choose another --out")
        return
    if not ckpt.is_file():
        raise TrainingError(f"{out}: nothing to resume (no {CKPT_DIR}/{LAST_CKPT}); start the "
                            "run without --resume")
    saved = json.loads(run_file.read_text())["config"] if run_file.is_file() else None
    if saved is None:
        return
    changed = [f"{section}.{key}" for section, values in resolved.items()
               for key, value in values.items()
               if _plain(saved.get(section, {}).get(key)) != _plain(value)
               and not (section == "pretrain" and key in PretrainConfig.RESUMABLE)]
    if changed:
        raise ConfigError(f"{out}: --resume must keep the run's settings, but "
                          f"{', '.join(changed)} differ from {run_file}; start a new run instead")


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _write_run(out: Path, resolved: dict[str, Any], cache: CachedDataset, status: str,
               reason: str | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    record = {"status": status, "reason": reason, "config": resolved,
              "data": {**cache.describe(),
                       "train_images": len(cache.split_indices("train"))},
              "medaug_version": medaug_version(), "torch_version": torch.__version__,
              "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_json(out / RUN_FILE, record)
