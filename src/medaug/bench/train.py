"""``medaug bench train``: training throughput with augmentation on against pre-augmented views.

Medaug draws the two views of a batch on the training device, batched, inside the training step
(:meth:`medaug.methods.base.SSLMethod.make_views`), instead of per image in DataLoader
workers. This bench shows what that costs: it trains each method (built exactly as
``medaug pretrain`` builds it) for a few steps on real ``uint8`` batches from the cache in two
modes, interleaved in the same run so that both see the same machine noise:

* **augmentation on**: every step makes the two views from the ``uint8`` batch
  (``make_views``) and then trains on them, as a pretraining step does;
* **pre-augmented**: the views of the same batches were made once before the clock started;
  the step only trains on them.

A training step is what Lightning runs for ``training_step`` in a plain loop (no Trainer):
the method's ``views_loss`` on the list of views, the finite-loss guard and the embedding
spread, ``loss.backward()``, an SGD step (lr 0.01, momentum 0.9, the run's weight decay),
``zero_grad`` and the momentum update of the method's target networks (BYOL's), if any. On
CUDA the forward runs under the autocast that ``pretrain``'s ``precision="auto"`` picks (bf16,
or fp16 with a gradient scaler); on the CPU it is fp32. The ``uint8`` batches are on the device
before the clock starts in both modes (moving them is the loader's cost, not the
augmentation's).

Throughput is input images per second (each image gives two views); each mode's figure is the
median over ``rounds`` rounds of ``steps`` timed steps (after ``warmup`` untimed ones), and the
ratio is augmentation-on over pre-augmented. A ratio near 1 means augmentation is not the
bottleneck; the target is at least :data:`TARGET_RATIO`. The views alone (``make_views`` on
every batch, no training) are timed too, to show the augmentation's own rate.
"""

from __future__ import annotations

import math
import statistics
import time
import warnings
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
from lightly.models.utils import update_momentum
from lightly.utils.debug import std_of_l2_normalized
from rich.console import Console
from rich.table import Table
from torch import Tensor

from medaug.augment.pipeline import DEFAULT_OPS
from medaug.errors import TrainingError
from medaug.methods.base import SSLMethod, available_methods
from medaug.train.pretrain_config import PretrainConfig

TARGET_RATIO = 0.9
LR = 0.01
MOMENTUM = 0.9


@dataclass
class TrainBenchRow:
    """One method's result.

    Attributes:
        method: the method's name.
        aug_img_s: input images/s with the views made in the step (median over rounds).
        pre_img_s: input images/s on views made before timing (median over rounds).
        ratio: ``aug_img_s / pre_img_s``.
        aug_rounds, pre_rounds: each round's images/s, in run order.
        views_img_s: images/s of ``make_views`` alone (both views, no training), median of
            ``rounds`` passes over the batches.
        params: trainable parameters of the method (backbone and heads).
    """

    method: str
    aug_img_s: float
    pre_img_s: float
    ratio: float
    aug_rounds: list[float] = field(default_factory=list)
    pre_rounds: list[float] = field(default_factory=list)
    views_img_s: float = math.nan
    params: int = 0


def load_train_batches(data: str, size: int, batch: int, steps: int) -> tuple[list[Tensor], int]:
    """``uint8`` batches ``(batch, size, size)`` of training images of ``data`` (the train split
    of its cache at ``size`` px with pretraining's preprocessing, built if needed): ``steps``
    batches of distinct images, fewer when the split is smaller. Also returns the number of
    train images.

    Raises:
        DataError: the dataset is missing or unreadable.
        TrainingError: the train split has fewer than ``batch`` images, or ``batch < 2``.
    """
    from medaug.data.open import open_dataset
    from medaug.data.preprocess import PreprocessConfig
    from medaug.train.data import check_batch

    cache = open_dataset(data, preprocess=PreprocessConfig(size=size))
    rows = cache.split_indices("train")
    check_batch(len(rows), batch, 1, cache.manifest.name)
    n_batches = max(1, min(steps, len(rows) // batch))
    pick = np.random.default_rng(0).permutation(rows)[: n_batches * batch]
    images = torch.from_numpy(np.stack([cache.images[i] for i in pick]))  # (N, S, S) uint8
    return list(images.split(batch)), len(rows)


def run_train_bench(data: str = "knee", size: int = 64, batch: int = 64, steps: int = 8,
                    warmup: int = 2, rounds: int = 3,
                    methods: Sequence[str] | None = None,
                    ops: str = DEFAULT_OPS, backbone: str = "resnet18",
                    device: str = "cpu", console: Console | None = None) -> list[TrainBenchRow]:
    """Time training steps of each method with augmentation on and on pre-augmented views
    (interleaved: A, B, A, B, ... for ``rounds`` rounds of ``warmup`` untimed and ``steps``
    timed steps each), print a table and the ratio line, and return one row per method
    (``methods=None``: every registered method, :func:`medaug.methods.available_methods`).

    Raises:
        DataError: ``data`` is missing or unreadable.
        ConfigError, AugmentError: an unknown method, backbone or op spec.
        TrainingError: too few training images for one batch, or a loss that is not finite.
    """
    if steps < 1 or rounds < 1 or warmup < 0:
        raise TrainingError(f"bench train needs steps >= 1, rounds >= 1 and warmup >= 0, got "
                            f"{steps}, {rounds}, {warmup}")
    from medaug.train.pretrain import build_method
    from medaug.train.trainer import choose_precision

    console = console or Console()
    methods = available_methods() if methods is None else list(methods)
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    # Built first, so that an unknown method, backbone or op fails before any data work.
    configs = [PretrainConfig(method=name, ops=ops, backbone=backbone, batch_size=batch)
               for name in methods]
    built = []
    for config in configs:
        torch.manual_seed(0)
        built.append(build_method(config, world=1))
    host_batches, n_train = load_train_batches(data, size, batch, steps)
    batches = [b.to(dev) for b in host_batches]
    precision = choose_precision(PretrainConfig(accelerator="gpu")) if cuda else "32-true"
    rows = []
    for config in configs:
        method = built.pop(0).to(dev)
        rows.append(_bench_method(method, batches, batch, steps, warmup, rounds,
                                  config.weight_decay, precision, cuda))
        del method
    _report(rows, console, data=data, n_train=n_train, size=size, batch=batch, steps=steps,
            warmup=warmup, rounds=rounds, ops=ops, backbone=backbone, precision=precision,
            device=torch.cuda.get_device_name(dev) if cuda else device)
    return rows


def _bench_method(m: SSLMethod, batches: list[Tensor], batch: int, steps: int, warmup: int,
                  rounds: int, weight_decay: float, precision: str, cuda: bool
                  ) -> TrainBenchRow:
    m.train()
    params = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=LR, momentum=MOMENTUM, weight_decay=weight_decay)
    amp_dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler("cuda") if precision == "16-mixed" else None

    def autocast() -> AbstractContextManager[object]:
        if amp_dtype is None:
            return nullcontext()
        return torch.autocast("cuda", dtype=amp_dtype)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    base_seed = m.seed
    step = 0  # optimiser steps so far, over both modes

    def views_of(images: Tensor, k: int) -> list[Tensor]:
        # Without a trainer global_step stays 0, so make_views would draw the same parameters
        # every step; moving the method's seed gives each step its own draws, as in a run.
        m.seed = base_seed + k
        return m.make_views(images)

    pending: list[Tensor] = []

    def check(loss: Tensor | None) -> None:
        # As in pretraining: the previous step's loss is checked (it is done by now), so the
        # check never waits for the device; ``check(None)`` checks the last one.
        if pending and not bool(torch.isfinite(pending.pop())):
            raise TrainingError(f"bench train: the {m.name} loss became non-finite by step "
                                f"{step}")
        if loss is not None:
            pending.append(loss)

    def train_step(views: list[Tensor]) -> None:
        nonlocal step
        with autocast():
            loss, embeddings = m.views_loss(views)
        with torch.no_grad():
            std_of_l2_normalized(embeddings.detach().float())
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        check(loss.detach())
        for online, target in m.momentum_pairs():
            update_momentum(online, target, m.momentum_at(step))

    # The pre-augmented views; that pass also warms the ops up (their first calls are slow:
    # kernels, caches, code paths of ops applied to part of a batch). Then the views alone are
    # timed, median of ``rounds`` passes over every batch.
    pre = [views_of(b, k) for k, b in enumerate(batches)]
    views_rounds = []
    for r in range(rounds):
        sync()
        t0 = time.perf_counter()
        for k, b in enumerate(batches):
            views_of(b, (r + 1) * len(batches) + k)
        sync()
        views_rounds.append(batch * len(batches) / (time.perf_counter() - t0))
    views_img_s = statistics.median(views_rounds)

    def run_mode(augment: bool) -> float:
        def one(i: int) -> None:
            k = i % len(batches)
            train_step(views_of(batches[k], step) if augment else pre[k])

        for i in range(warmup):
            one(i)
        sync()
        t0 = time.perf_counter()
        for i in range(steps):
            one(i)
        check(None)
        sync()
        return batch * steps / (time.perf_counter() - t0)

    aug_rounds: list[float] = []
    pre_rounds: list[float] = []
    with warnings.catch_warnings():
        # Without a trainer the momentum schedule has one step (momentum 1, the update's cost
        # unchanged); lightly warns that later steps exceed it.
        warnings.filterwarnings("ignore", message="Current step number", category=RuntimeWarning)
        for _ in range(rounds):
            aug_rounds.append(run_mode(augment=True))
            pre_rounds.append(run_mode(augment=False))
    m.seed = base_seed
    aug, pre_img_s = statistics.median(aug_rounds), statistics.median(pre_rounds)
    return TrainBenchRow(m.name, aug, pre_img_s, aug / pre_img_s, aug_rounds, pre_rounds,
                         views_img_s, sum(p.numel() for p in params))


def _report(rows: list[TrainBenchRow], console: Console, *, data: str, n_train: int, size: int,
            batch: int, steps: int, warmup: int, rounds: int, ops: str, backbone: str,
            precision: str, device: str) -> None:
    table = Table(title=f"training throughput, {backbone} at {size} px, 2 views, batch {batch}, "
                  f"{data} train images (median of {rounds} rounds x {steps} steps)")
    table.add_column("method")
    table.add_column("augmentation on img/s", justify="right")
    table.add_column("pre-augmented img/s", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("per round", justify="right")
    table.add_column("views only img/s", justify="right")
    fmt = "{:.1f}".format
    for r in rows:
        per_round = [a / p for a, p in zip(r.aug_rounds, r.pre_rounds, strict=True)]
        spread = f"{min(per_round):.3f}-{max(per_round):.3f}" if len(per_round) > 1 \
            else f"{per_round[0]:.3f}"
        table.add_row(r.method, fmt(r.aug_img_s), fmt(r.pre_img_s), f"{r.ratio:.3f}", spread,
                      fmt(r.views_img_s))
    console.print(table)
    missed = [r.method for r in rows if not r.ratio >= TARGET_RATIO]
    verdict = "met" if not missed else f"not met by {', '.join(missed)}"
    ratios = ", ".join(f"{r.method} {r.ratio:.3f}" for r in rows)
    console.print(f"ratio augmentation on/pre-augmented: {ratios} (target >= {TARGET_RATIO}: "
                  f"{verdict}); device {device} ({precision}), torch threads "
                  f"{torch.get_num_threads()}, batch {batch}, {size} px, ops {ops}, backbone "
                  f"{backbone}, data {data} ({n_train} train images), {warmup} warm-up + "
                  f"{steps} timed steps per round and mode, {rounds} rounds interleaved")
