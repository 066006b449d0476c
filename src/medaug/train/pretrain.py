"""``medaug pretrain``: train an encoder without labels and leave a run folder.

A run folder holds::

    run.json            resolved config (data, preprocess, pretrain), data fingerprint, status
    training.csv        one row per epoch (see medaug.train.monitor)
    .lock               held (flock) by the process writing the run
    encoder.pt          the backbone's state_dict after the last finished epoch
    encoder.json        how to rebuild that backbone with torchvision alone
    checkpoints/last.ckpt   Lightning checkpoint after the last finished epoch (for --resume)
    curves.png          the metrics per epoch, drawn when the run finishes
    run.log             the lines the run printed, appended (resumed runs add theirs)

Under DDP every process runs this function; only the primary one (global rank 0) checks and
writes the run folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

from medaug.augment.crop import Crop
from medaug.augment.pipeline import Pipeline, build_pipeline
from medaug.augment.views import MultiViews, TwoViews, ViewSpec
from medaug.data.cache import CachedDataset
from medaug.data.config import PrepareConfig, prepare_from_dict, prepare_to_dict
from medaug.data.open import open_dataset
from medaug.errors import ConfigError, TrainingError
from medaug.methods.args import accepts, effective_args, parse_method_args
from medaug.methods.base import OptimConfig, SSLMethod, create_method
from medaug.models.backbones import create_backbone
from medaug.store import (
    RUN_FILE,
    Interrupted,
    load_checkpoint,
    lock_run_folder,
    read_run,
    write_run_record,
)
from medaug.train.curves import plot_curves
from medaug.train.data import CacheDataModule, check_batch
from medaug.train.monitor import KnnSplits, Monitor, read_training
from medaug.train.positives import Partners, grouping, partner_table
from medaug.train.pretrain_config import PretrainConfig, pretrain_from_dict
from medaug.train.trainer import choose_precision, is_primary_process, make_trainer, strategy_of

LOG_FILE = "run.log"
CURVES_FILE = "curves.png"
CKPT_DIR = "checkpoints"
LAST_CKPT = "last.ckpt"
#: Steps between Lightning's step-metric updates: each one reads the logged step values back
#: from the device (a host synchronisation), so not every step; epoch means are unaffected.
LOG_EVERY = 50


@dataclass
class PretrainResult:
    """What a finished run left: its folder and per-epoch metrics."""

    folder: Path
    metrics: pd.DataFrame
    cache: CachedDataset
    seconds: float


def run_pretrain(data: PrepareConfig, config: PretrainConfig, out: Path, resume: bool = False,
                 callbacks: Sequence[L.Callback] = (), progress: bool | None = None,
                 say: Callable[[str], None] | None = print,
                 cache: CachedDataset | None = None) -> PretrainResult:
    """Pretrain an encoder on the train split of ``data`` and write the run folder ``out``.

    The primary process holds ``out``'s lock (:func:`medaug.store.lock_run_folder`) for the
    whole run, taken before anything in the folder is read or written.

    Args:
        resume: continue from ``out/checkpoints/last.ckpt``; ``data`` and ``config`` must
            match the saved run except for :attr:`PretrainConfig.RESUMABLE` fields. A run
            that stopped before its first checkpoint starts again from scratch.
        callbacks: more Lightning callbacks (tests use one to simulate a crash).
        progress: show Lightning's progress bar (default: when stderr is a terminal).
        say: prints status lines (``None`` is silent).
        cache: ``data`` already opened (:func:`medaug.data.open.open_dataset`; a caller that
            runs several stages opens it once); without it ``data`` is opened here.

    Raises:
        TrainingError: ``out`` holds a run and ``resume`` is false, nothing to resume, another
            process writes ``out``, ``out`` cannot be written, an unloadable checkpoint, a bad
            batch size, or a loss that became NaN (finished epochs' checkpoints stay).
        Interrupted: Ctrl-C (``exit_code`` 130) or SIGTERM (143); ``--resume`` continues.
        ConfigError: an unknown method, backbone or optimizer, or a resumed run whose settings
            differ from the saved ones.
    """
    out = Path(out)
    with lock_run_folder(out) if is_primary_process() else contextlib.nullcontext(out):
        return _run(data, config, out, resume, callbacks, progress, say, cache)


def _run(data: PrepareConfig, config: PretrainConfig, out: Path, resume: bool,
         callbacks: Sequence[L.Callback], progress: bool | None,
         say: Callable[[str], None] | None, cache: CachedDataset | None) -> PretrainResult:
    started = time.perf_counter()
    primary = is_primary_process()
    resolved = {**prepare_to_dict(data), "pretrain": dataclasses.asdict(config)}
    ckpt = out / CKPT_DIR / LAST_CKPT
    if primary:
        _check_folder(out, resolved, resume, ckpt, say)
    from_ckpt = resume and ckpt.is_file()
    world = config.devices * config.num_nodes
    progress = progress if progress is not None else sys.stderr.isatty()
    L.seed_everything(config.seed, workers=True, verbose=False)
    method = build_method(config, world, data.preprocess.size)  # bad names fail before data
    if cache is None:
        cache = open_dataset(data, progress=progress)
    train_rows = cache.split_indices("train")
    check_batch(len(train_rows), config.batch_size, world, cache.manifest.name)
    partners = _partners(cache, train_rows, config.positives)
    datamodule = CacheDataModule(cache.images, train_rows, config.batch_size, seed=config.seed,
                                 workers=config.workers, name=cache.manifest.name,
                                 partners=partners, resident=config.resident)
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
        enable_model_summary=False, num_sanity_val_steps=0, log_every_n_steps=LOG_EVERY,
        use_distributed_sampler=False, default_root_dir=out)
    data_block = {**cache.describe(), "train_images": len(train_rows)}

    def record(status: str, reason: str | None = None) -> None:
        if primary:
            write_run_record(out, status, resolved, data_block, reason=reason)

    if from_ckpt:
        load_checkpoint(ckpt)  # refuses unsafe or foreign content with one line
    record("running")
    if primary and tell is not None:
        tell(f"pretraining {config.method} ({config.backbone}, ops {config.ops}) on "
             f"{len(train_rows)} {cache.manifest.name} train images at "
             f"{data.preprocess.size} px for {config.epochs} epochs -> {out}")
        if partners is not None:
            tell(f"positives from another image of the same {config.positives}: "
                 f"{partners.paired} of {len(train_rows)} train images have one (the others "
                 "pair with themselves)")
    try:
        trainer.fit(method, datamodule=datamodule, ckpt_path=str(ckpt) if from_ckpt else None,
                    weights_only=True)
    except (KeyboardInterrupt, SystemExit) as exc:  # Lightning: SIGTERM, or Ctrl-C -> exit(1)
        code = 143 if isinstance(exc, SIGTERMException) else 130
        record("interrupted", f"{'SIGTERM' if code == 143 else 'Ctrl-C'}; continue with "
                              "--resume")
        raise Interrupted("interrupted: continue with medaug pretrain --resume --out "
                          f"{shlex.quote(str(out))}",
                          exit_code=code) from exc
    except BaseException as exc:
        record("failed", f"{type(exc).__name__}: {exc}")
        raise
    if trainer.interrupted:
        record("interrupted", "continue with --resume")
        raise Interrupted("interrupted: continue with medaug pretrain --resume --out "
                          f"{shlex.quote(str(out))}",
                          exit_code=130)
    record("finished")
    if primary:
        plot_curves([out], out / CURVES_FILE, labels=[config.method])
    return PretrainResult(out, read_training(out), cache, time.perf_counter() - started)


def _teller(path: Path, say: Callable[[str], None] | None) -> Callable[[str], None]:
    """``say`` that also appends each line, time-stamped, to ``path``."""

    def tell(line: str) -> None:
        if say is not None:
            say(line)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")

    return tell


def build_method(config: PretrainConfig, world: int, image_size: int | None = None
                 ) -> SSLMethod:
    """The method, backbone and views of ``config`` for ``world`` processes:
    ``config.method_args`` passed to the method's constructor by name, plus the base
    arguments; a method that can gather negatives across processes does so when there are
    several.

    The views are two global views at the cache's size (``ops``, and ``ops2`` for the second
    when given), then ``config.local_crops`` local views (multi-crop, Caron et al. 2020/2021)
    drawn by ``ops`` with its crop's scale set to ``(0.05, 0.4)`` (a crop is prepended
    where the spec has none) and resized to ``config.local_size`` (default: 3/7 of
    ``image_size``, DINO's 96 of 224). Without local crops they are exactly a ``TwoViews``.

    Raises:
        ConfigError, AugmentError: an unknown method, backbone, optimizer, op spec or method
            argument (the message lists the method's valid arguments), or local crops with
            neither ``local_size`` nor ``image_size``.
    """
    first = build_pipeline(config.ops)
    second = build_pipeline(config.ops2) if config.ops2 else None
    views: MultiViews = TwoViews(first, second)
    if config.local_crops > 0:
        size = config.local_size or (max(1, round(image_size * 3 / 7)) if image_size else None)
        if size is None:
            raise ConfigError("pretrain: local_crops needs local_size (--local-size) when the "
                              "image size is not known")
        scale = (0.05, 0.4)  # DINO's local crops: 5 to 40 % of the image's area
        ops = list(build_pipeline(config.ops).ops)
        crops = [i for i, op in enumerate(ops) if isinstance(op, Crop)]
        for i in crops:
            ops[i] = Crop(scale, ops[i].ratio, ops[i].p)
        local = Pipeline(ops if crops else [Crop(scale), *ops], spec=f"local: {config.ops}")
        views = MultiViews([ViewSpec(first), ViewSpec(second or first),
                            ViewSpec(local, config.local_crops, size)])
    extra = parse_method_args(config.method, config.method_args)
    if accepts(config.method, "gather_distributed"):
        extra["gather_distributed"] = world > 1
    base: dict[str, Any] = {
        "backbone": create_backbone(config.backbone, seed=config.seed), "views": views,
        "seed": config.seed,
        "optim": OptimConfig(config.optimizer, config.lr, config.weight_decay,
                             config.warmup_epochs)}
    method = create_method(config.method, **base, **extra)
    method.set_speed(config.compile, config.channels_last)
    return method


def _partners(cache: CachedDataset, rows: Any, positives: str) -> Partners | None:
    """The partners of the train rows under ``positives`` (``None`` for ``image``)."""
    groups = grouping(cache.manifest.frame, positives)
    return None if groups is None else partner_table(groups[rows])


def _knn_splits(cache: CachedDataset, config: PretrainConfig) -> KnnSplits | None:
    labels = cache.manifest.frame["label"].to_numpy()
    bank, query = cache.split_indices("train"), cache.split_indices("val")
    if len(query) == 0 or len(set(labels[bank])) < 2:
        return None
    if len(bank) > config.knn_max_bank:
        pick = torch.randperm(len(bank), generator=torch.Generator().manual_seed(config.seed))
        bank = bank[pick.numpy()[:config.knn_max_bank]]
    return KnnSplits(cache.images, bank, labels[bank], query, labels[query], config.knn_k)


def _check_folder(out: Path, resolved: dict[str, Any], resume: bool, ckpt: Path,
                  say: Callable[[str], None] | None) -> None:
    """Refuse a fresh start into a folder that holds a run, a resume with nothing to resume
    or with changed settings; a run that stopped before its first checkpoint restarts."""
    record = read_run(out)  # a garbage run.json is one line here
    if not resume:
        if record is not None or ckpt.is_file():
            raise TrainingError(f"{out} already holds a run; continue it with --resume, or "
                                "choose another --out")
        return
    if record is None and not ckpt.is_file():
        raise TrainingError(f"{out}: nothing to resume (no {RUN_FILE} and no "
                            f"{CKPT_DIR}/{LAST_CKPT}); start the run without --resume")
    if record is not None:
        saved = saved_settings(record.config)
        changed = [f"{section}.{key}" for section, values in resolved.items()
                   for key, value in values.items()
                   if _plain(saved.get(section, {}).get(key)) != _plain(value)
                   and not (section == "pretrain" and key in PretrainConfig.RESUMABLE)
                   and not (section == "pretrain" and key == "method_args"
                            and _same_args(values["method"], saved["pretrain"], value))]
        if changed:
            raise ConfigError(f"{out}: --resume must keep the run's settings, but "
                              f"{', '.join(changed)} differ from {out / RUN_FILE}; start a new "
                              "run instead")
    if not ckpt.is_file() and say is not None:
        say(f"{out}: the run stopped before its first checkpoint; starting it again from "
            "scratch with the same settings")


def saved_settings(config: dict[str, Any]) -> dict[str, Any]:
    """A run record's config sections as this version resolves them: an older folder's
    ``pretrain`` section gets the fields added since at their defaults (``local_crops``, ...)
    and its legacy keys folded into ``method_args``, its ``data`` and ``preprocess`` sections
    their defaults too; a record that no longer parses is returned as saved (every differing
    key is then named)."""
    try:
        data = prepare_to_dict(prepare_from_dict(config, RUN_FILE))
        pretrain = dataclasses.asdict(pretrain_from_dict(config, RUN_FILE))
    except (ConfigError, TypeError, ValueError):
        return config
    return {**config, **data, "pretrain": pretrain}


def _same_args(method: str, saved: dict[str, Any], spec: str) -> bool:
    """Whether the saved section's ``method_args`` and ``spec`` set ``method`` alike (an
    argument given at its default is the same as one left out)."""
    if saved.get("method") != method:
        return False
    try:
        return _plain(effective_args(method, str(saved.get("method_args") or ""))) \
            == _plain(effective_args(method, spec))
    except ConfigError:
        return False


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
