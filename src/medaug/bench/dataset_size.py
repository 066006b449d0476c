"""``medaug bench data``: training throughput against dataset size, streamed and resident.

A pretraining step draws its batch from the whole training set in a random order. When the
``uint8`` images stay on the host, every batch is gathered from a host array into pinned
memory and copied to the device; the larger the set, the fewer of its rows sit in the CPU's
caches, and the gather is the host's work while the device waits. When the images are
resident on the device (``--resident``), only the positions cross the link and the gather is
a device kernel whose cost does not depend on how many images there are: img/s should be
flat over dataset size.

This bench measures that on synthetic sets (:func:`synthetic_images`: no dataset on disk, no
cache written) of each size in ``dataset_sizes``: the augmentation-on training step of one
method (:class:`medaug.bench.train_phases.BenchStep`: data, views, forward/backward,
optimiser) on batches drawn at random positions (without replacement within a batch, drawn
before the clock starts) from the whole set, in two modes measured side by side:

* **streamed**: host array -> pinned buffer -> device with ``non_blocking`` every step
  (:class:`~medaug.bench.train_phases.StreamedBatches`; the gather runs in the step's thread,
  where ``pretrain`` runs it in DataLoader workers, so this is the pessimistic case);
* **resident**: the set copied once to the device and each batch gathered there
  (:class:`~medaug.bench.train_phases.ResidentBatches`; on the CPU a RAM copy).

Every round times each (size, mode) in turn, ``warmup`` untimed and ``steps`` timed steps
each, the order of the modes alternating between rounds; the figure is the median of the
rounds in source images/s (each image gives two views), and each mode's figures are also
given relative to the smallest size.
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
from medaug.bench.train_phases import (
    BatchSource,
    BenchStep,
    ResidentBatches,
    StreamedBatches,
    build_bench_method,
    check_speed,
    device_name,
    place_method,
    resolve_device,
    resolve_precision,
    speed_of,
    sync,
)
from medaug.errors import DataError, TrainingError

#: The two ways a batch reaches the device, in the order of the table's columns.
MODES = ("streamed", "resident")
#: The ``--data`` prefix of a synthetic set: ``synthetic:N`` is N images.
SYNTHETIC = "synthetic:"


@dataclass
class SizeRow:
    """One (dataset size, mode) of the sweep.

    Attributes:
        n_images: images in the synthetic set.
        mode: ``streamed`` or ``resident`` (:data:`MODES`).
        img_s: source images/s of the augmentation-on step (median over rounds).
        rounds: each round's source images/s, in run order.
        vs_smallest: ``img_s`` over the same mode's ``img_s`` at the smallest size.
    """

    n_images: int
    mode: str
    img_s: float
    rounds: list[float] = field(default_factory=list)
    vs_smallest: float = math.nan


def parse_synthetic(data: str) -> int | None:
    """N of ``synthetic:N``; ``None`` for any other ``--data``.

    Raises:
        DataError: ``synthetic:`` with a count that is not a positive integer.
    """
    if not data.startswith(SYNTHETIC):
        return None
    text = data[len(SYNTHETIC):]
    if not text.isdigit() or int(text) < 1:
        raise DataError(f"--data synthetic:N needs a positive integer N, got {data!r}")
    return int(text)


def synthetic_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """``n`` random but structured images ``(n, size, size)`` uint8: a dark noisy background
    (values 20-75) and one bright Gaussian blob per image (peak 120-200 above it, centre in
    the middle half, radius 8-25 % of the side), from a numpy generator seeded by ``seed``.
    Generated in chunks of about 4 M pixels, so the peak memory beyond the result is small.

    Raises:
        DataError: ``n < 1`` or ``size < 8``.
    """
    if n < 1 or size < 8:
        raise DataError(f"synthetic images need n >= 1 and size >= 8, got {n} and {size}")
    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size), dtype=np.uint8)
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size
    yy, xx = grid[:, None], grid[None, :]  # (S, 1), (1, S)
    chunk = max(1, (1 << 22) // (size * size))
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        cy, cx = (rng.uniform(0.25, 0.75, (2, m, 1, 1))).astype(np.float32)
        radius = rng.uniform(0.08, 0.25, (m, 1, 1)).astype(np.float32)
        peak = rng.uniform(120, 200, (m, 1, 1)).astype(np.float32)
        d2 = (yy - cy) ** 2 + (xx - cx) ** 2  # (m, S, S)
        blob = peak * np.exp(-d2 / (2 * radius**2))
        noise = rng.integers(20, 76, (m, size, size), dtype=np.uint8)
        out[start:start + m] = np.clip(blob + noise, 0, 255).astype(np.uint8)
    return out


def random_batches(n: int, batch: int, count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` batches of ``batch`` distinct positions in ``0..n-1`` (int64)."""
    rng = np.random.default_rng(seed)
    return [rng.choice(n, size=batch, replace=False).astype(np.int64) for _ in range(count)]


def run_size_sweep(dataset_sizes: Sequence[int] = (1000, 10000, 100000), size: int = 64,
                   batch: int = 64, steps: int = 8, warmup: int = 2, rounds: int = 3,
                   method: str = "simclr", ops: str = DEFAULT_OPS,
                   backbone: str = "resnet18", accelerator: str = "auto",
                   device: str | None = None, precision: str = "auto",
                   compile: str = "auto", channels_last: str = "auto",
                   console: Console | None = None) -> list[SizeRow]:
    """Time ``method``'s augmentation-on step on synthetic sets of each of ``dataset_sizes``
    images, streamed and resident (see the module), print a table and a closing line, and
    return one row per size and mode (sizes in the given order, modes as :data:`MODES`).

    Raises:
        ConfigError, AugmentError: an unknown method, backbone, op spec, accelerator, device,
            precision or switch value.
        TrainingError: no sizes, a size smaller than ``batch``, ``batch < 2``, or bad
            ``steps``, ``warmup`` or ``rounds``; a loss that is not finite.
    """
    sizes = [int(n) for n in dataset_sizes]
    if not sizes:
        raise TrainingError("bench data needs at least one dataset size")
    if steps < 1 or rounds < 1 or warmup < 0:
        raise TrainingError(f"bench data needs steps >= 1, rounds >= 1 and warmup >= 0, got "
                            f"{steps}, {rounds}, {warmup}")
    if batch < 2 or min(sizes) < batch:
        raise TrainingError(f"bench data needs batch >= 2 and every dataset size >= the batch "
                            f"({batch}), got sizes {sizes}")
    console = console or Console()
    dev = resolve_device(accelerator, device)
    prec = resolve_precision(precision, dev)
    check_speed(compile, channels_last)
    built, weight_decay = build_bench_method(method, ops, backbone, batch)
    per_segment = warmup + steps
    sources: dict[tuple[int, str], BatchSource] = {}
    for n in sizes:
        images = synthetic_images(n, size, seed=n)
        positions = random_batches(n, batch, rounds * per_segment, seed=n + 1)
        sources[n, "streamed"] = StreamedBatches(images, positions, dev)
        sources[n, "resident"] = ResidentBatches(images, positions, dev)
    step = BenchStep(place_method(built, dev, compile, channels_last), weight_decay, prec)
    first = sources[sizes[0], "resident"]
    for k in range(warmup):  # the first steps (and with compile on, compiling) untimed
        step.step(first, k)
    step.flush()

    def segment(source: BatchSource, r: int) -> float:
        base = r * per_segment
        for i in range(warmup):
            step.step(source, base + i)
        sync(dev)
        t0 = time.perf_counter()
        for i in range(warmup, per_segment):
            step.step(source, base + i)
        step.flush()
        sync(dev)
        return batch * steps / (time.perf_counter() - t0)

    measured: dict[tuple[int, str], list[float]] = {key: [] for key in sources}
    for r in range(rounds):
        order = MODES if r % 2 == 0 else MODES[::-1]
        for n in sizes:
            for mode in order:
                measured[n, mode].append(segment(sources[n, mode], r))
    step.finish()
    rows = [SizeRow(n, mode, statistics.median(measured[n, mode]), measured[n, mode])
            for n in sizes for mode in MODES]
    smallest = min(sizes)
    base_rate = {r.mode: r.img_s for r in rows if r.n_images == smallest}
    for r in rows:
        r.vs_smallest = r.img_s / base_rate[r.mode]
    _report(rows, console, size=size, batch=batch, steps=steps, warmup=warmup, rounds=rounds,
            method=method, ops=ops, backbone=backbone, precision=prec,
            speed=speed_of(compile, channels_last, dev), device=device_name(dev))
    return rows


def _report(rows: list[SizeRow], console: Console, *, size: int, batch: int, steps: int,
            warmup: int, rounds: int, method: str, ops: str, backbone: str, precision: str,
            speed: str, device: str) -> None:
    sizes = list(dict.fromkeys(r.n_images for r in rows))
    smallest, largest = min(sizes), max(sizes)
    by = {(r.n_images, r.mode): r for r in rows}
    table = Table(title=f"source images/s against dataset size: {method}, {backbone} at "
                  f"{size} px, batch {batch}, random batches from the whole synthetic set "
                  f"(median of {rounds} rounds x {steps} steps)")
    table.add_column("images", justify="right")
    table.add_column("MB", justify="right")
    for mode in MODES:
        table.add_column(f"{mode} src img/s", justify="right")
        table.add_column(f"{mode} vs {smallest}", justify="right")
    table.add_column("resident/streamed", justify="right")
    for n in sizes:
        cells = [str(n), f"{n * size * size / 1e6:.1f}"]
        for mode in MODES:
            cells += [f"{by[n, mode].img_s:.1f}", f"{by[n, mode].vs_smallest:.3f}"]
        cells.append(f"{by[n, 'resident'].img_s / by[n, 'streamed'].img_s:.3f}")
        table.add_row(*cells)
    console.print(table)
    spread = ", ".join(f"{mode} {by[largest, mode].vs_smallest:.3f}" for mode in MODES)
    console.print(f"source images/s at {largest} vs {smallest} images: {spread} (flat when "
                  f"near 1); device {device}, precision {precision}, {speed}, torch threads "
                  f"{torch.get_num_threads()}, method {method}, batch {batch}, {size} px, ops "
                  f"{ops}, backbone {backbone}, {warmup} warm-up + {steps} timed steps per "
                  f"round, size and mode, {rounds} rounds interleaved")
