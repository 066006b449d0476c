"""``medaug bench train``: training throughput with augmentation on against pre-augmented views,
and where a step's time goes.

Medaug draws the two views of a batch on the training device, batched, inside the training step
(:meth:`medaug.methods.base.SSLMethod.make_views`), instead of per image in DataLoader
workers. This bench shows what that costs: it trains each method (built exactly as
``medaug pretrain`` builds it, moved to the device, then its ``--compile`` and
``--channels-last`` switches applied there as a run applies them) for a few steps on
``uint8`` batches of the cache (or of a synthetic set, ``--data synthetic:N``) in two modes,
interleaved in the same run so that both see the same machine noise:

* **augmentation on**: every step takes its ``uint8`` batch to the device (gathered from the
  resident copy there, or copied from pinned host memory: ``--resident``), makes the two views
  from it (``make_views``) and trains on them, as a pretraining step does;
* **pre-augmented**: the views of the same batches were made once before the clock started;
  the step only trains on them.

The step is :class:`medaug.bench.train_phases.BenchStep` (what Lightning runs for
``training_step`` in a plain loop: ``views_loss``, the finite-loss guard and the embedding
spread, ``backward``, an SGD step, ``zero_grad`` and the momentum update of the method's
targets), under the autocast of ``--precision`` (``auto``: bf16 mixed on a GPU that has it,
fp16 mixed with a gradient scaler on other GPUs, fp32 on the CPU).

Throughput is **source images per second** (each source image gives two views); each mode's
figure is the median over ``rounds`` rounds of ``steps`` timed steps (after ``warmup`` untimed
ones; with compile on, the first warm-up steps are where the backbone compiles, so keep
``warmup >= 1`` there). These rounds never synchronise inside a step, as training does not.
The ratio is augmentation-on over pre-augmented: near 1, the input side (data and views) is
not the bottleneck; the target is at least :data:`TARGET_RATIO`. The views alone
(``make_views`` on every batch, no training) are timed too.

After the rounds, one separate profiled pass of ``steps`` steps per method
(:func:`medaug.bench.train_phases.profile_phases`) synchronises the device between phases and
gives the seconds per step of data, augmentation, forward+backward and optimiser, printed as
ms per step and shares. The syncs inflate that pass's step time (the host waits instead of
queueing ahead), so it gives shares only; throughput comes from the rounds.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from medaug.augment.pipeline import DEFAULT_OPS
from medaug.bench.dataset_size import parse_synthetic, synthetic_images
from medaug.bench.train_phases import (
    PHASES,
    BatchSource,
    BenchStep,
    ResidentBatches,
    StreamedBatches,
    build_bench_method,
    check_speed,
    device_name,
    phase_shares,
    place_method,
    profile_phases,
    resolve_device,
    resolve_precision,
    speed_of,
)
from medaug.errors import ConfigError, TrainingError
from medaug.methods.base import available_methods

TARGET_RATIO = 0.9


@dataclass
class TrainBenchRow:
    """One method's result.

    Attributes:
        method: the method's name.
        aug_img_s: source images/s with the data and views in the step (median over rounds).
        pre_img_s: source images/s on views made before timing (median over rounds).
        ratio: ``aug_img_s / pre_img_s``.
        aug_rounds, pre_rounds: each round's source images/s, in run order.
        views_img_s: source images/s of ``make_views`` alone (both views, no training),
            median of ``rounds`` passes over the batches.
        params: trainable parameters of the method (backbone and heads).
        phases: seconds per step of each phase of the profiled pass
            (:data:`~medaug.bench.train_phases.PHASES`, synchronised; shares only).
    """

    method: str
    aug_img_s: float
    pre_img_s: float
    ratio: float
    aug_rounds: list[float] = field(default_factory=list)
    pre_rounds: list[float] = field(default_factory=list)
    views_img_s: float = math.nan
    params: int = 0
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def step_ms(self) -> float:
        """Milliseconds of a profiled step (all phases)."""
        return 1000 * sum(self.phases.values())


def load_train_images(data: str, size: int, batch: int, steps: int) -> tuple[np.ndarray, int]:
    """``uint8`` images ``(n_batches * batch, size, size)``, distinct, in random order, for
    ``n_batches = min(steps, n_train // batch)`` batches (at least one): training images of
    ``data`` (the train split of its cache at ``size`` px with pretraining's preprocessing,
    built if needed), or of a synthetic set for ``synthetic:N``
    (:func:`medaug.bench.dataset_size.synthetic_images`; nothing read or written). Also
    returns ``n_train``, the number of train images.

    Raises:
        DataError: the dataset is missing or unreadable, or a bad ``synthetic:N``.
        TrainingError: the train split has fewer than ``batch`` images, or ``batch < 2``.
    """
    from medaug.train.data import check_batch

    n_synthetic = parse_synthetic(data)
    if n_synthetic is not None:
        check_batch(n_synthetic, batch, 1, data)
        images = synthetic_images(n_synthetic, size)
        rows = np.arange(n_synthetic)
    else:
        from medaug.data.open import open_dataset
        from medaug.data.preprocess import PreprocessConfig

        cache = open_dataset(data, preprocess=PreprocessConfig(size=size))
        rows = cache.split_indices("train")
        check_batch(len(rows), batch, 1, cache.manifest.name)
        images = cache.images
    n_batches = max(1, min(steps, len(rows) // batch))
    pick = np.random.default_rng(0).permutation(rows)[: n_batches * batch]
    return np.stack([images[i] for i in pick]), len(rows)  # (n_batches * B, S, S) uint8


def run_train_bench(data: str = "knee", size: int = 64, batch: int = 64, steps: int = 8,
                    warmup: int = 2, rounds: int = 3,
                    methods: Sequence[str] | None = None,
                    ops: str = DEFAULT_OPS, backbone: str = "resnet18",
                    accelerator: str = "auto", device: str | None = None,
                    precision: str = "auto", compile: str = "auto",
                    channels_last: str = "auto", resident: str = "auto",
                    console: Console | None = None) -> list[TrainBenchRow]:
    """Time training steps of each method with augmentation on and on pre-augmented views
    (interleaved: A, B, A, B, ... for ``rounds`` rounds of ``warmup`` untimed and ``steps``
    timed steps each), then one profiled pass of ``steps`` steps for the phase shares; print
    both tables and the closing line, and return one row per method (``methods=None``: every
    registered method, :func:`medaug.methods.available_methods`).

    ``accelerator`` (``auto``, ``cpu``, ``gpu``/``cuda``) or ``device`` (the older spelling;
    it wins over ``auto``) choose the device; ``compile`` and ``channels_last`` (``auto``: on
    for CUDA) are applied to each method there; ``resident`` (``auto``: on a GPU when the
    batches fit in a quarter of its free memory; ``on``; ``off``) keeps the ``uint8`` images on
    the device or streams each batch from pinned host memory.

    Raises:
        DataError: ``data`` is missing or unreadable.
        ConfigError, AugmentError: an unknown method, backbone, op spec, accelerator, device,
            precision or switch value.
        TrainingError: too few training images for one batch, or a loss that is not finite.
    """
    if steps < 1 or rounds < 1 or warmup < 0:
        raise TrainingError(f"bench train needs steps >= 1, rounds >= 1 and warmup >= 0, got "
                            f"{steps}, {rounds}, {warmup}")
    from medaug.train.resident import RESIDENT, choose_resident

    if resident not in RESIDENT:
        raise ConfigError(f"bench: --resident must be one of {', '.join(RESIDENT)}, got "
                          f"{resident!r}")
    console = console or Console()
    methods = available_methods() if methods is None else list(methods)
    dev = resolve_device(accelerator, device)
    prec = resolve_precision(precision, dev)
    check_speed(compile, channels_last)
    # Built first, so that an unknown method, backbone or op fails before any data work.
    built = [build_bench_method(name, ops, backbone, batch) for name in methods]
    images, n_train = load_train_images(data, size, batch, steps)
    positions = [np.arange(k, k + batch) for k in range(0, len(images), batch)]
    on_device = choose_resident(resident, dev, images.nbytes)
    source: BatchSource = (ResidentBatches if on_device else StreamedBatches)(
        images, positions, dev)
    rows = []
    for method, weight_decay in built:
        step = BenchStep(place_method(method, dev, compile, channels_last), weight_decay, prec)
        row = _bench_method(step, source, len(positions), batch, steps, warmup, rounds)
        row.phases = profile_phases(step, source, steps)
        rows.append(row)
        del step, method
    built.clear()
    _report(rows, console, data=data, n_train=n_train, size=size, batch=batch, steps=steps,
            warmup=warmup, rounds=rounds, ops=ops, backbone=backbone, precision=prec,
            speed=speed_of(compile, channels_last, dev),
            data_mode="resident on the device" if on_device else "streamed from "
            + ("pinned host memory" if dev.type == "cuda" else "host memory"),
            device=device_name(dev))
    return rows


def _bench_method(step: BenchStep, source: BatchSource, n_batches: int, batch: int, steps: int,
                  warmup: int, rounds: int) -> TrainBenchRow:
    # The pre-augmented views; that pass also warms the data path and the ops up (their first
    # calls are slow: kernels, caches, code paths of ops applied to part of a batch). Then the
    # views alone are timed, median of ``rounds`` passes over every batch.
    pre = [step.views(source.fetch(k), k) for k in range(n_batches)]
    batches = [source.fetch(k) for k in range(n_batches)]
    views_rounds = []
    for r in range(rounds):
        step.sync()
        t0 = time.perf_counter()
        for k, b in enumerate(batches):
            step.views(b, (r + 1) * n_batches + k)
        step.sync()
        views_rounds.append(batch * n_batches / (time.perf_counter() - t0))
    del batches

    def run_mode(augment: bool) -> float:
        def one(i: int) -> None:
            k = i % n_batches
            if augment:
                step.step(source, k)
            else:
                step.train(pre[k])

        for i in range(warmup):
            one(i)
        step.sync()
        t0 = time.perf_counter()
        for i in range(steps):
            one(i)
        step.flush()
        step.sync()
        return batch * steps / (time.perf_counter() - t0)

    aug_rounds: list[float] = []
    pre_rounds: list[float] = []
    for _ in range(rounds):
        aug_rounds.append(run_mode(augment=True))
        pre_rounds.append(run_mode(augment=False))
    step.finish()
    aug, pre_img_s = statistics.median(aug_rounds), statistics.median(pre_rounds)
    return TrainBenchRow(step.method.name, aug, pre_img_s, aug / pre_img_s, aug_rounds,
                         pre_rounds, statistics.median(views_rounds),
                         sum(p.numel() for p in step.params))


PHASE_LABELS = {"data": "data", "augmentation": "augmentation",
                "forward_backward": "forward+backward", "optimiser": "optimiser"}


def _report(rows: list[TrainBenchRow], console: Console, *, data: str, n_train: int, size: int,
            batch: int, steps: int, warmup: int, rounds: int, ops: str, backbone: str,
            precision: str, speed: str, data_mode: str, device: str) -> None:
    table = Table(title=f"training throughput, {backbone} at {size} px, 2 views, batch {batch}, "
                  f"{data} train images (source images/s, median of {rounds} rounds x "
                  f"{steps} steps)")
    table.add_column("method")
    table.add_column("augmentation on src img/s", justify="right")
    table.add_column("pre-augmented src img/s", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("per round", justify="right")
    table.add_column("views only src img/s", justify="right")
    fmt = "{:.1f}".format
    for r in rows:
        per_round = [a / p for a, p in zip(r.aug_rounds, r.pre_rounds, strict=True)]
        spread = f"{min(per_round):.3f}-{max(per_round):.3f}" if len(per_round) > 1 \
            else f"{per_round[0]:.3f}"
        table.add_row(r.method, fmt(r.aug_img_s), fmt(r.pre_img_s), f"{r.ratio:.3f}", spread,
                      fmt(r.views_img_s))
    console.print(table)
    phases = Table(title=f"step time by phase (one profiled pass of {steps} steps, the device "
                   "synchronised between phases: shares, not throughput)")
    phases.add_column("method")
    phases.add_column("ms/step", justify="right")
    for name in PHASES:
        phases.add_column(PHASE_LABELS[name], justify="right")
    for r in rows:
        shares = phase_shares(r.phases)
        phases.add_row(r.method, f"{r.step_ms:.2f}",
                       *(f"{100 * shares[name]:.1f} %" for name in PHASES))
    console.print(phases)
    missed = [r.method for r in rows if not r.ratio >= TARGET_RATIO]
    verdict = "met" if not missed else f"not met by {', '.join(missed)}"
    rates = ", ".join(f"{r.method} {r.aug_img_s:.1f}" for r in rows)
    ratios = ", ".join(f"{r.method} {r.ratio:.3f}" for r in rows)
    console.print(f"source images/s with augmentation on: {rates}; ratio augmentation "
                  f"on/pre-augmented: {ratios} (target >= {TARGET_RATIO}: {verdict}); device "
                  f"{device}, precision {precision}, {speed}, batches {data_mode}, torch "
                  f"threads {torch.get_num_threads()}, batch {batch}, {size} px, ops {ops}, "
                  f"backbone {backbone}, data {data} ({n_train} train images), {warmup} "
                  f"warm-up + {steps} timed steps per round and mode, {rounds} rounds "
                  "interleaved")
