"""The training step the benches time, split into its four phases, and where it runs.

One step of ``medaug bench train`` and ``medaug bench data`` is, in order:

1. **data**: the ``uint8`` batch ``(B, S, S)`` reaches the device, either streamed (gathered
   from the host array into pinned memory, then copied with ``non_blocking``:
   :class:`StreamedBatches`) or gathered on the device from a resident copy
   (:class:`medaug.train.resident.ResidentImages`: :class:`ResidentBatches`);
2. **augmentation**: the method's two views (:meth:`~medaug.methods.base.SSLMethod.make_views`);
3. **forward_backward**: ``views_loss`` under the autocast of the run's precision, the
   embedding spread as pretraining logs it, and ``backward`` (scaled under fp16);
4. **optimiser**: SGD step (lr 0.01, momentum 0.9, the run's weight decay), ``zero_grad``,
   the finite-loss check of the previous step and the momentum update of the method's
   targets (BYOL's), if any.

:func:`profile_phases` times each phase on its own, with the device synchronised before and
after each one (``torch.cuda.synchronize()`` on CUDA), to say where a step's time goes. Those
syncs stall the host while the device drains its queue, so a profiled step is slower than a
real one: throughput is never read from it, only shares.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

import numpy as np
import torch
from lightly.models.utils import update_momentum
from lightly.utils.debug import std_of_l2_normalized
from torch import Tensor

from medaug.errors import ConfigError, TrainingError
from medaug.methods.base import SSLMethod
from medaug.train.pretrain_config import PretrainConfig
from medaug.train.resident import ResidentImages

#: The phases of a step, in order (the keys of :func:`profile_phases`).
PHASES = ("data", "augmentation", "forward_backward", "optimiser")
#: ``--accelerator`` choices: ``gpu`` and ``cuda`` are the same; ``auto`` is CUDA when there.
ACCELERATORS = ("auto", "cpu", "gpu", "cuda")
#: ``--precision`` choices (``auto``: bf16 mixed on a GPU that has it, fp16 mixed on other
#: GPUs, fp32 on the CPU, as ``medaug pretrain`` picks).
PRECISIONS = ("auto", "bf16-mixed", "16-mixed", "32-true")
LR = 0.01
MOMENTUM = 0.9


def resolve_device(accelerator: str = "auto", device: str | None = None) -> torch.device:
    """The device of ``--accelerator`` (``cpu``; ``gpu`` or ``cuda``: CUDA; ``auto``: CUDA
    when torch sees one, else the CPU), or of ``--device`` (the older spelling, e.g.
    ``cuda:1``), which wins over ``auto`` and must agree with any other accelerator.

    Raises:
        ConfigError: an unknown accelerator or device, the two disagreeing, or CUDA asked for
            where torch sees none.
    """
    if accelerator not in ACCELERATORS:
        raise ConfigError(f"bench: --accelerator must be one of {', '.join(ACCELERATORS)}, "
                          f"got {accelerator!r}")
    if device is not None:
        try:
            dev = torch.device(device)
        except RuntimeError as exc:
            raise ConfigError(f"bench: --device must be cpu, cuda or cuda:N, got {device!r}"
                              ) from exc
        if dev.type not in ("cpu", "cuda"):
            raise ConfigError(f"bench: --device must be cpu, cuda or cuda:N, got {device!r}")
        if accelerator != "auto" and (dev.type == "cuda") != (accelerator in ("gpu", "cuda")):
            raise ConfigError(f"bench: --device {device} and --accelerator {accelerator} "
                              "disagree; give one of them (--accelerator is the newer "
                              "spelling)")
    else:
        cuda = accelerator in ("gpu", "cuda") or (accelerator == "auto"
                                                  and torch.cuda.is_available())
        dev = torch.device("cuda" if cuda else "cpu")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("bench: CUDA was asked for (--accelerator gpu or --device cuda) "
                              "but torch sees no CUDA device; use --accelerator cpu")
        if dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
    return dev


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision a step runs in (``auto`` as ``medaug pretrain`` resolves it).

    Raises:
        ConfigError: an unknown precision, or fp16 mixed (which needs a gradient scaler on
            CUDA) on the CPU.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"bench: --precision must be one of {', '.join(PRECISIONS)}, got "
                          f"{precision!r}")
    from medaug.train.trainer import choose_precision

    cuda = device.type == "cuda"
    if precision == "auto":
        return choose_precision(PretrainConfig(accelerator="gpu")) if cuda else "32-true"
    if precision == "16-mixed" and not cuda:
        raise ConfigError("bench: --precision 16-mixed needs CUDA; use bf16-mixed or 32-true "
                          "on the CPU")
    return precision


def device_name(device: torch.device) -> str:
    """``cuda:0 (NVIDIA H200)`` on CUDA, ``cpu`` elsewhere."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing on the CPU, which runs eagerly."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class BatchSource(Protocol):
    """``uint8`` batches ``(B, S, S)`` on the training device, by step."""

    resident: bool

    def fetch(self, k: int) -> Tensor:
        """The batch of step ``k`` (the positions repeat after the last one)."""
        ...


class StreamedBatches:
    """Batches gathered from the host array ``images`` ``(N, S, S)`` uint8 at ``positions``
    (one ``(B,)`` array a step) into pinned memory (on CUDA; plain memory on the CPU), then
    copied to ``device`` with ``non_blocking``: what a streamed pretraining run's loader and
    ``transfer_batch_to_device`` do, here in the step's own thread.

    The pinned buffers come from torch's caching host allocator, which reuses a buffer only
    after the copy reading it has finished.
    """

    resident = False

    def __init__(self, images: np.ndarray, positions: list[np.ndarray],
                 device: torch.device) -> None:
        self.host = torch.from_numpy(np.ascontiguousarray(images))  # (N, S, S) uint8
        self.positions = [torch.from_numpy(np.asarray(p, dtype=np.int64)) for p in positions]
        self.device = device
        self.pin = device.type == "cuda"

    def fetch(self, k: int) -> Tensor:
        rows = self.positions[k % len(self.positions)]
        out = torch.empty((len(rows), *self.host.shape[1:]), dtype=self.host.dtype,
                          pin_memory=self.pin)
        torch.index_select(self.host, 0, rows, out=out)  # (B, S, S), pinned on CUDA
        return out.to(self.device, non_blocking=True)


class ResidentBatches:
    """Batches gathered on ``device`` from a resident copy of ``images`` ``(N, S, S)`` uint8
    (:class:`ResidentImages`; a RAM copy on the CPU): only the positions ``(B,)`` cross the
    host-device link, as in a ``--resident`` pretraining run."""

    resident = True

    def __init__(self, images: np.ndarray, positions: list[np.ndarray],
                 device: torch.device) -> None:
        self.store = ResidentImages(images, np.arange(len(images)), device)
        self.positions = [torch.from_numpy(np.asarray(p, dtype=np.int64)) for p in positions]

    def fetch(self, k: int) -> Tensor:
        return self.store.gather(self.positions[k % len(self.positions)])


class BenchStep:
    """The training step of a method on its device, one method call per phase (see the
    module); it counts optimiser steps and moves the method's augmentation seed with them.

    Args:
        method: the method, already on its device (and with its speed switches applied).
        weight_decay: SGD's weight decay (the run's).
        precision: a resolved precision (:func:`resolve_precision`).
    """

    def __init__(self, method: SSLMethod, weight_decay: float, precision: str) -> None:
        method.train()
        self.method = method
        self.device = method.device
        self.params = [p for p in method.parameters() if p.requires_grad]
        self.opt = torch.optim.SGD(self.params, lr=LR, momentum=MOMENTUM,
                                   weight_decay=weight_decay)
        self.amp_dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
        self.scaler = torch.amp.GradScaler("cuda") if precision == "16-mixed" else None
        self.base_seed = method.seed
        self.count = 0  # optimiser steps so far
        self._pending: list[Tensor] = []

    def autocast(self) -> AbstractContextManager[object]:
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def sync(self) -> None:
        sync(self.device)

    def views(self, images: Tensor, k: int | None = None) -> list[Tensor]:
        """The views of ``images`` ``(B, S, S)`` drawn for step ``k`` (default: the next)."""
        # Without a trainer global_step stays 0, so make_views would draw the same parameters
        # every step; moving the method's seed gives each step its own draws, as in a run.
        self.method.seed = self.base_seed + (self.count if k is None else k)
        return self.method.make_views(images)

    def forward_backward(self, views: list[Tensor]) -> Tensor:
        """Loss of ``views`` and its backward; returns the loss (detached)."""
        with self.autocast():
            loss, embeddings = self.method.views_loss(views)
        with torch.no_grad():
            std_of_l2_normalized(embeddings.detach().float())
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()
        return loss.detach()

    def optimise(self, loss: Tensor) -> None:
        """Optimiser step, ``zero_grad``, the check of the previous loss, momentum update."""
        if self.scaler is not None:
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self.count += 1
        self._check(loss)
        m = self.method
        # Without a trainer the momentum schedule has one step: momentum 1 from then on (the
        # update's cost is the same as in a run).
        momentum = m.momentum_at(min(self.count, m.total_steps()))
        for online, target in m.momentum_pairs():
            update_momentum(online, target, momentum)

    def train(self, views: list[Tensor]) -> None:
        """One step on ``views`` (phases 3 and 4)."""
        self.optimise(self.forward_backward(views))

    def step(self, source: BatchSource, k: int) -> None:
        """One whole step (all four phases) on the batch of step ``k`` of ``source``."""
        self.train(self.views(source.fetch(k)))

    def flush(self) -> None:
        """Check the last step's loss (waits for the device)."""
        self._check(None)

    def finish(self) -> None:
        """Check the last loss and restore the method's seed."""
        self.flush()
        self.method.seed = self.base_seed

    def _check(self, loss: Tensor | None) -> None:
        # As in pretraining: the previous step's loss is checked (it is done by now), so the
        # check never waits for the device; ``None`` checks the last one.
        if self._pending and not bool(torch.isfinite(self._pending.pop())):
            raise TrainingError(f"bench: the {self.method.name} loss became non-finite by step "
                                f"{self.count}")
        if loss is not None:
            self._pending.append(loss)


def profile_phases(step: BenchStep, source: BatchSource, steps: int) -> dict[str, float]:
    """Seconds per step of each of :data:`PHASES` (mean over ``steps`` steps of ``source``),
    the device synchronised around every phase (see the module: shares, not throughput)."""
    if steps < 1:
        raise TrainingError(f"bench: the profiled pass needs steps >= 1, got {steps}")
    totals = dict.fromkeys(PHASES, 0.0)
    for k in range(steps):
        step.sync()
        t0 = time.perf_counter()
        images = source.fetch(k)
        step.sync()
        t1 = time.perf_counter()
        views = step.views(images)
        step.sync()
        t2 = time.perf_counter()
        loss = step.forward_backward(views)
        step.sync()
        t3 = time.perf_counter()
        step.optimise(loss)
        step.sync()
        t4 = time.perf_counter()
        for name, seconds in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            totals[name] += seconds
    step.finish()  # the last loss checked, the method's seed restored
    return {name: seconds / steps for name, seconds in totals.items()}


def phase_shares(phases: dict[str, float]) -> dict[str, float]:
    """Each phase's share of the step (the shares sum to 1)."""
    total = sum(phases.values())
    return {name: seconds / total for name, seconds in phases.items()}


def build_bench_method(name: str, ops: str, backbone: str, batch: int
                       ) -> tuple[SSLMethod, float]:
    """Method ``name`` built as ``medaug pretrain`` builds it (seed 0, on the CPU) and the
    run's weight decay.

    Raises:
        ConfigError, AugmentError: an unknown method, backbone or op spec.
    """
    from medaug.train.pretrain import build_method

    config = PretrainConfig(method=name, ops=ops, backbone=backbone, batch_size=batch)
    torch.manual_seed(0)
    return build_method(config, world=1), config.weight_decay


def check_speed(compile: str, channels_last: str) -> None:
    """Raise :class:`ConfigError` unless both are ``auto``, ``on`` or ``off``."""
    from medaug.models.speed import SWITCHES

    for option, value in (("--compile", compile), ("--channels-last", channels_last)):
        if value not in SWITCHES:
            raise ConfigError(f"bench: {option} must be one of {', '.join(SWITCHES)}, got "
                              f"{value!r}")


def place_method(method: SSLMethod, device: torch.device, compile: str = "auto",
                 channels_last: str = "auto") -> SSLMethod:
    """``method`` moved to ``device`` with its speed switches applied there (``set_speed`` +
    ``on_fit_start``, as a pretraining run does). With compile on, the first steps run
    afterwards compile the backbone, so they belong in a warm-up."""
    method = method.to(device)
    method.set_speed(compile, channels_last)
    method.on_fit_start()
    return method


def speed_of(compile: str, channels_last: str, device: torch.device) -> str:
    """``compile on (auto), channels-last off (auto)``: the resolved switches."""
    from medaug.models.speed import resolve_switch

    def one(label: str, value: str) -> str:
        on = "on" if resolve_switch(value, device) else "off"
        return f"{label} {on}" + (" (auto)" if value == "auto" else "")

    return f"{one('compile', compile)}, {one('channels-last', channels_last)}"
