"""Several workers of one study from one command (``medaug study run --trials-per-gpu N``):
the command settles the study, then starts its workers as ``medaug study join`` processes on
the same folder and store and waits for them; they share the work as any workers do (claims
in the store, no duplicates). Small trials (64 px, batch 64) use a fraction of a GPU; N of them
at once fill it.

With several GPUs each gets ``N`` workers: worker ``k`` sees only GPU ``k mod G``
(``CUDA_VISIBLE_DEVICES``), so ``N x G`` trials run at once. On a CPU-only machine N workers
share the cores (on 2 cores two workers run each trial at a fifth of the speed: keep N=1).

Each worker writes its lines to ``workers/worker-<k>.log`` in the study folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

WORKERS_DIR = "workers"


@dataclass
class Pool:
    """The started workers (their processes and log files)."""

    procs: list[subprocess.Popen[bytes]]
    logs: list[Path]

    def wait(self) -> list[int]:
        """Wait for every started worker; their exit codes."""
        return [p.wait() for p in self.procs]

    def stop(self) -> None:
        """SIGTERM every started worker still running (each gives its trial back) and wait."""
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            p.wait()


def worker_slots(per_gpu: int, gpus: int | None = None) -> list[str | None]:
    """The ``CUDA_VISIBLE_DEVICES`` of every worker of the command: ``per_gpu`` per GPU,
    round-robin over ``gpus`` devices (default: the visible ones); ``None`` (inherit) for
    each of ``per_gpu`` workers on a machine without GPUs or with one."""
    gpus = torch.cuda.device_count() if gpus is None else gpus
    if gpus <= 1:
        return [None] * per_gpu
    return [str(k % gpus) for k in range(per_gpu * gpus)]


def join_command(folder: Path, storage_url: str | None, name: str | None,
                 max_trials: int | None) -> list[str]:
    """The ``medaug study join`` command line of one more worker of the study in ``folder``."""
    command = [sys.executable, "-m", "medaug", "study", "join", str(folder)]
    if storage_url:
        command += ["--storage", storage_url]
    if name:
        command += ["--name", name]
    if max_trials is not None:
        command += ["--max-trials", str(max_trials)]
    return command


def start_workers(folder: Path, slots: list[str | None], storage_url: str | None = None,
                  name: str | None = None, max_trials: int | None = None) -> Pool:
    """Start one ``medaug study join`` worker per slot (a ``CUDA_VISIBLE_DEVICES`` value or
    ``None``), worker ``k`` logging to ``workers/worker-<k>.log``."""
    folder = Path(folder)
    (folder / WORKERS_DIR).mkdir(parents=True, exist_ok=True)
    procs, logs = [], []
    for k, visible in enumerate(slots):
        env = dict(os.environ)
        if visible is not None:
            env["CUDA_VISIBLE_DEVICES"] = visible
        log = folder / WORKERS_DIR / f"worker-{k}.log"
        with open(log, "ab") as fh:
            procs.append(subprocess.Popen(join_command(folder, storage_url, name, max_trials),
                                          stdout=fh, stderr=subprocess.STDOUT, env=env))
        logs.append(log)
    return Pool(procs, logs)
