"""``medaug study status``: trials per state and method, and an ETA from the finished ones."""

from __future__ import annotations

import time
from dataclasses import dataclass

from optuna.trial import TrialState
from rich.table import Table

from medaug.study.storage import WORKER, stale
from medaug.study.worker import Worker


@dataclass(frozen=True)
class Progress:
    """Counts per study (``method`` or ``references``), the ETA in seconds and the study's
    recent throughput in SSL trials per hour (``None`` before two have finished)."""

    counts: dict[str, dict[str, int]]
    mean_seconds: float | None
    workers: int
    eta_seconds: float | None
    per_hour: float | None = None


#: The window of :func:`trials_per_hour`: finished trials of the last hour before the latest.
RATE_WINDOW = 3600.0


def trials_per_hour(finished: list[float], window: float = RATE_WINDOW) -> float | None:
    """SSL trials per hour from their completion times (epoch seconds): ``k - 1`` intervals
    over the span of the ``k`` completions within ``window`` of the latest one (so a pause
    between sessions does not dilute it); ``None`` with fewer than two there."""
    if len(finished) < 2:
        return None
    last = max(finished)
    recent = sorted(t for t in finished if t >= last - window)
    span = recent[-1] - recent[0]
    return None if len(recent) < 2 or span <= 0 else 3600.0 * (len(recent) - 1) / span


def progress(worker: Worker) -> Progress:
    """How far the study of ``worker`` is: per Optuna study the trials by state (a running
    trial whose worker is gone counts as ``lost``), the mean seconds of a finished trial, the
    live workers and the ETA (remaining trials x mean seconds / live workers)."""
    counts: dict[str, dict[str, int]] = {}
    seconds, live, remaining = [], set(), 0
    completed: list[float] = []
    grace = worker.config.options.grace
    for kind, study in worker.studies.items():
        row = {"done": 0, "pruned": 0, "running": 0, "lost": 0, "waiting": 0, "failed": 0}
        for t in study.get_trials(deepcopy=False):
            if t.state == TrialState.COMPLETE:
                row["done"] += 1
                if t.user_attrs.get("seconds") is not None:
                    seconds.append(float(t.user_attrs["seconds"]))
                if kind in worker.space.methods and t.datetime_complete is not None:
                    completed.append(t.datetime_complete.timestamp())
            elif t.state == TrialState.PRUNED:
                row["pruned"] += 1
            elif t.state == TrialState.RUNNING:
                if stale(t, grace):
                    row["lost"] += 1
                else:
                    row["running"] += 1
                    w = t.system_attrs.get(WORKER) or {}
                    live.add((w.get("host"), w.get("pid")))
                remaining += 1
            elif t.state == TrialState.WAITING:
                row["waiting"] += 1
                remaining += 1
            elif t.state == TrialState.FAIL:
                row["failed"] += 1
        if worker.config.options.search and kind in worker.space.methods:
            remaining += max(0, worker.config.options.budget - sum(row.values()))
        counts[kind] = row
    mean = sum(seconds) / len(seconds) if seconds else None
    eta = 0.0 if remaining == 0 else None if mean is None else remaining * mean / max(1, len(live))
    return Progress(counts, mean, len(live), eta, trials_per_hour(completed))


def progress_table(p: Progress) -> Table:
    """A rich table of :func:`progress` (failed counts trials a re-run retries)."""
    table = Table(title="study progress")
    names = ["done", "pruned", "running", "lost", "waiting", "failed"]
    table.add_column("trials of")
    for n in names:
        table.add_column(n, justify="right")
    for kind, row in p.counts.items():
        table.add_row(kind, *(str(row[n]) for n in names))
    if p.eta_seconds == 0:
        eta = "nothing left to run"
    elif p.eta_seconds is None:
        eta = "unknown (no trial finished yet)"
    else:
        at = time.strftime("%H:%M", time.localtime(time.time() + p.eta_seconds))
        eta = (f"{p.eta_seconds / 60:.0f} min at {p.mean_seconds:.0f} s a trial with "
               f"{max(1, p.workers)} worker(s), about {at}")
    rate = "" if p.per_hour is None else f"; {p.per_hour:.1f} SSL trials per hour lately"
    table.caption = f"live workers: {p.workers}; ETA: {eta}{rate}"
    return table
