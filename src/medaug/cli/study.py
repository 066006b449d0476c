"""``medaug study run|status|report``: the augmentation study."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer import BadParameter

from medaug.cli.app import app, console, friendly, quiet_lightning
from medaug.cli.options import (
    DATA_KEYS,
    DEFAULT_DATASET,
    PRE,
    ClaheOpt,
    ConfigOpt,
    DataOpt,
    SizeOpt,
    comma,
    overlay,
    section_keys,
)
from medaug.study.config import StudyOptions
from medaug.train.pretrain_config import PretrainConfig

if TYPE_CHECKING:
    from medaug.study.session import Session
    from medaug.study.worker import WorkerResult

study_app = typer.Typer(help="The augmentation study: which ops make pretraining pay, with "
                        "evidence.", no_args_is_help=True)
app.add_typer(study_app, name="study")
P, S = PretrainConfig(), StudyOptions()
KEYS: dict[str, tuple[str, str]] = {
    **{k: v for k, v in DATA_KEYS.items() if k in ("data", "size", "clahe")},
    **section_keys("pretrain", ("backbone", "epochs", "batch_size", "optimizer", "lr",
                                "weight_decay", "accelerator", "precision", "workers")),
    **section_keys("study", ("methods", "ops", "preset", "combos", "base", "seeds",
                             "bootstrap", "supervised_epochs", "search", "budget",
                             "pruner_startup", "heartbeat", "grace"),
                   factor="factors", label_fractions="fractions")}
StoreOpt = Annotated[str | None, typer.Option(
    "--storage", help="postgresql://user@host/db for workers on several machines (default: "
    "the journal file optuna.journal in the study folder)")]


def _storage_url(out: Path, given: str | None) -> str | None:
    """``--storage``, else the one the study was started with (``store.url`` in the folder)."""
    saved = out / "store.url"
    if given:
        return given
    return saved.read_text().strip() or None if saved.is_file() else None


@study_app.command("run")
@friendly
def run(
    ctx: typer.Context,
    data: DataOpt = DEFAULT_DATASET,
    size: SizeOpt = PRE.size, clahe: ClaheOpt = PRE.clahe,
    methods: Annotated[str, typer.Option(help="Registered SSL methods, comma-separated")] =
        comma(S.methods),
    ops: Annotated[str, typer.Option(help="Ops of the space as spec strings, comma-separated "
                   "(variants of one op are alternatives: 'blur(sigma=0.1-2),blur(sigma=0.1-6)')"
                   )] = "",
    preset: Annotated[str, typer.Option(help="pairs (each op and every pair), full (every "
                      "subset) or seed (the original study's five ops at its strengths)")] =
        S.preset,
    combos: Annotated[str | None, typer.Option(help="Explicit combinations instead of a "
                      "preset: 'crop+flip,crop+blur'")] = None,
    base: Annotated[str, typer.Option(help="Ops every trial starts with, e.g. crop")] = S.base,
    factor: Annotated[list[str] | None, typer.Option(help="NAME=V1,V2: a preprocessing, "
                      "pretraining or method option as a factor, e.g. clahe=on,off "
                      "(repeatable)")] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per point (0..N-1)")] = S.seeds,
    imbalance: Annotated[float | None, typer.Option(help="Also run every point with the "
                         "train split subsampled to RATIO normal per abnormal image (the "
                         "factor imbalance=none,RATIO)")] = None,
    epochs: Annotated[int, typer.Option(help="Pretraining epochs per trial")] = P.epochs,
    batch_size: Annotated[int, typer.Option(help="Images per step")] = P.batch_size,
    optimizer: Annotated[str, typer.Option(help="sgd or adamw")] = P.optimizer,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate (default: the "
                  "method's scaling rule)")] = P.lr,
    weight_decay: Annotated[float, typer.Option(help="Weight decay")] = P.weight_decay,
    backbone: Annotated[str, typer.Option(help="Backbone of every trial")] = P.backbone,
    label_fractions: Annotated[str, typer.Option(help="Label fractions of each trial's "
                               "logistic probe")] = comma(S.fractions),
    bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates of every interval")] =
        S.bootstrap,
    supervised_epochs: Annotated[int, typer.Option(help="Epochs of the supervised reference "
                                 "per seed (0: none)")] = S.supervised_epochs,
    search: Annotated[bool, typer.Option("--search", help="TPE search with seeds as steps "
                      "and median pruning per method, instead of the grid")] = S.search,
    budget: Annotated[int, typer.Option(help="Search: trials per method")] = S.budget,
    pruner_startup: Annotated[int, typer.Option(help="Search: trials per method before "
                              "pruning starts")] = S.pruner_startup,
    heartbeat: Annotated[float, typer.Option(help="Seconds between heartbeats")] = S.heartbeat,
    grace: Annotated[float, typer.Option(help="Seconds without a heartbeat before another "
                     "worker takes a trial over")] = S.grace,
    accelerator: Annotated[str, typer.Option(help="auto, cpu or gpu")] = P.accelerator,
    precision: Annotated[str, typer.Option(help="Lightning precision (auto)")] = P.precision,
    workers: Annotated[int, typer.Option(help="DataLoader workers per trial")] = P.workers,
    storage: StoreOpt = None,
    name: Annotated[str | None, typer.Option(help="Study name in the store (default: the "
                    "folder's name)")] = None,
    max_trials: Annotated[int | None, typer.Option(help="Stop this worker after N trials")] =
        None,
    trials_per_gpu: Annotated[int, typer.Option(help="Workers (trials at once) per GPU, "
                              "started as `medaug study join` processes (logs in workers/); "
                              "with several GPUs, N on each. On a CPU-only machine N share "
                              "the cores")] = 1,
    out: Annotated[Path, typer.Option(help="Study folder")] = Path("studies/study"),
    config: ConfigOpt = None,
) -> None:
    """Run (or continue, or join) a study: start the same command in several processes or on
    several machines (with --storage) and they share the work."""
    from medaug.config import load_raw
    from medaug.study.session import open_session
    from medaug.study.space import split_list

    quiet_lightning()
    raw = overlay(ctx, load_raw(config) if config is not None else None, KEYS)
    section = raw.setdefault("study", {})
    for key in ("methods", "ops"):
        if isinstance(section.get(key), str):
            section[key] = split_list(section[key])
    if imbalance is not None:
        section["factors"] = [*(section.get("factors") or []), f"imbalance=none,{imbalance:g}"]
    if isinstance(section.get("fractions"), str):
        section["fractions"] = [float(v) for v in section["fractions"].split(",") if v.strip()]
    source = str(config) if config else "command line"
    if trials_per_gpu < 1:
        raise BadParameter("--trials-per-gpu must be at least 1")
    url = _storage_url(out, storage)
    session = open_session(out, raw, source, url, name, console.print)
    if trials_per_gpu > 1:
        _run_pool(session, out, trials_per_gpu, url, name, max_trials)
        return
    result = session.work(max_trials)
    _finish(result, out)


def _run_pool(session: Session, out: Path, per_gpu: int, url: str | None, name: str | None,
              max_trials: int | None) -> None:
    """Queue the study's trials, start its workers (:mod:`medaug.study.pool`), wait for
    them (Ctrl-C or SIGTERM stops them; each gives its trial back), then print the
    progress."""
    import signal
    import time

    from medaug.study.pool import start_workers, worker_slots
    from medaug.study.status import progress, progress_table

    session.worker.enqueue()
    slots = worker_slots(per_gpu)
    pool = start_workers(out, slots, url, name, max_trials)
    where = ", ".join(sorted({f"GPU {s}" for s in slots if s is not None})) or "this machine"
    console.print(f"started {len(slots)} workers on {where}; their lines go to "
                  f"{out}/workers/worker-*.log")
    started = time.perf_counter()

    def stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, stop)  # a SIGTERM (timeout, scheduler) too
    try:
        codes = pool.wait()
    except KeyboardInterrupt:
        console.print("stopping the workers (each gives its trial back)")
        pool.stop()
        raise typer.Exit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    wall = time.perf_counter() - started
    session.worker.mirror()
    console.print(progress_table(progress(session.worker)))
    console.print(f"{len(slots)} workers finished in {wall:.0f} s (exit codes "
                  f"{', '.join(map(str, codes))})")
    if any(codes):
        raise typer.Exit(1)


@study_app.command("join")
@friendly
def join(
    folder: Annotated[Path, typer.Argument(help="Study folder (its study.json holds the "
                      "settings)")],
    storage: StoreOpt = None,
    name: Annotated[str | None, typer.Option(help="Study name in the store (default: the "
                    "folder's store.name)")] = None,
    max_trials: Annotated[int | None, typer.Option(help="Stop this worker after N trials")] =
        None,
) -> None:
    """Join a study as one more worker, with the settings saved in its folder (on another
    machine: the same shared folder and --storage)."""
    from medaug.study.session import load_session

    quiet_lightning()
    session = load_session(folder, _storage_url(folder, storage), name, console.print)
    _finish(session.work(max_trials), folder)


def _finish(result: WorkerResult, out: Path) -> None:
    console.print(f"this worker finished {len(result.finished)}, pruned {len(result.pruned)} "
                  f"and failed {len(result.failed)} trials; `medaug study status {out}` shows "
                  f"the whole study, `medaug study report {out}` writes its report")
    for label, reason in result.failed:
        console.print(f"  failed: {label}: {reason}", highlight=False)
    if result.failed:
        raise typer.Exit(1)


@study_app.command("status")
@friendly
def status(
    folder: Annotated[Path, typer.Argument(help="Study folder")],
    storage: StoreOpt = None,
) -> None:
    """Progress of a study: trials done, running, waiting and failed per method, and an ETA."""
    from medaug.study.session import load_session
    from medaug.study.status import progress, progress_table

    session = load_session(folder, _storage_url(folder, storage))
    session.worker.mirror()
    console.print(progress_table(progress(session.worker)))


@study_app.command("report")
@friendly
def report(
    folder: Annotated[Path, typer.Argument(help="Study folder")],
    storage: StoreOpt = None,
    grid: Annotated[Path | None, typer.Option(help="For a search: the grid study of the same "
                    "space, to compare compute and the winner")] = None,
    followup: Annotated[bool, typer.Option("--followup/--no-followup", help="Label-efficiency "
                        "probes and Grad-CAM panels of the best and worst combinations")] =
        True,
) -> None:
    """Write the study's self-contained report.html (and PNG and CSV files beside it)."""
    from medaug.study.report import write_report
    from medaug.study.session import load_session

    quiet_lightning()
    session = load_session(folder, _storage_url(folder, storage))
    session.worker.mirror()
    if grid is not None:
        from medaug.study.search_compare import compare_search

        compare_search(folder, grid)
    if followup:
        from medaug.study.followup import run_followup

        run_followup(folder, session.config, console.print)
    console.print(f"wrote {write_report(folder)}")
