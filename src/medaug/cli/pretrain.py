"""``medaug pretrain`` and ``medaug curves``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medaug.cli.app import app, console, friendly, quiet_lightning
from medaug.cli.options import (
    DATA,
    DATA_KEYS,
    DEFAULT_DATASET,
    PRE,
    ClaheOpt,
    ClassesOpt,
    ClipOpt,
    ConfigOpt,
    DataOpt,
    ExcludeOpt,
    PartOpt,
    RegexOpt,
    SizeOpt,
    SplitSeedOpt,
    TestOpt,
    TileOpt,
    ValOpt,
    overlay,
    section_keys,
)
from medaug.train.pretrain_config import PretrainConfig

P = PretrainConfig()
#: CLI option -> (config section, key) of ``medaug pretrain``.
KEYS: dict[str, tuple[str, str]] = {
    **DATA_KEYS, **section_keys("pretrain", (
        "method", "ops", "ops2", "backbone", "epochs", "batch_size", "optimizer", "lr",
        "weight_decay", "warmup_epochs", "method_args", "seed", "knn_k", "accelerator",
        "devices", "num_nodes", "strategy", "precision", "workers", "local_crops",
        "local_size", "positives", "resident", "compile", "channels_last"))}


@app.command()
@friendly
def pretrain(
    ctx: typer.Context,
    data: DataOpt = DEFAULT_DATASET,
    method: Annotated[str, typer.Option(help="A registered method: simclr, byol, or any "
                      "other file in medaug/methods (an unknown name lists them)")] = P.method,
    ops: Annotated[str, typer.Option(help="Augmentation spec of the views, e.g. "
                   "'rotate+flip+chessboard' (see `medaug augment list`)")] =
        P.ops,
    ops2: Annotated[str | None, typer.Option(help="Spec of the second view when it differs "
                    "(BYOL's asymmetric views)")] = None,
    backbone: Annotated[str, typer.Option(help="resnet18, resnet50, resnet18-small, "
                        "resnet50-small (3x3 stem, no max-pool: for <= 64 px) or timm:<name>")] =
        P.backbone,
    size: SizeOpt = PRE.size, clahe: ClaheOpt = PRE.clahe, clip_limit: ClipOpt = PRE.clip_limit,
    tile_grid: TileOpt = PRE.tile_grid,
    epochs: Annotated[int, typer.Option(help="Epochs over the train split")] = P.epochs,
    batch_size: Annotated[int, typer.Option(help="Images per process and step")] = P.batch_size,
    optimizer: Annotated[str, typer.Option(help="sgd or adamw")] = P.optimizer,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate (default: 0.06 x "
                  "global batch / 128 for sgd, 1e-3 x batch / 256 for adamw)")] = P.lr,
    weight_decay: Annotated[float, typer.Option(help="Weight decay")] = P.weight_decay,
    warmup_epochs: Annotated[float, typer.Option(help="Linear warm-up before the cosine "
                             "decay")] = P.warmup_epochs,
    method_args: Annotated[str, typer.Option(help="The method's own settings, named as its "
                           "constructor's arguments, e.g. 'temperature=0.5,proj_dim=64' for "
                           "simclr (empty: the paper defaults; a bad key lists the method's "
                           "valid ones)")] = P.method_args,
    seed: Annotated[int, typer.Option(help="Seed of initialisation, shuffling and "
                    "augmentation")] = P.seed,
    knn_k: Annotated[int, typer.Option(help="Neighbours of the kNN monitor")] = P.knn_k,
    accelerator: Annotated[str, typer.Option(help="auto, cpu or gpu")] = P.accelerator,
    devices: Annotated[int, typer.Option(help="Processes per node (2+ runs DDP; gloo on the "
                       "CPU)")] = P.devices,
    num_nodes: Annotated[int, typer.Option(help="Nodes (launch with torchrun or srun, see "
                         "the README)")] = P.num_nodes,
    strategy: Annotated[str, typer.Option(help="Lightning strategy (auto: DDP when several "
                        "processes)")] = P.strategy,
    precision: Annotated[str, typer.Option(help="auto (bf16-mixed on a GPU that has it, "
                         "16-mixed on other GPUs, 32-true on the CPU) or a Lightning "
                         "precision")] = P.precision,
    workers: Annotated[int, typer.Option(help="DataLoader workers")] = P.workers,
    local_crops: Annotated[int, typer.Option(help="Multi-crop: local views added to the two "
                           "global ones (--ops with a crop of 5-40 % of the area; DINO uses "
                           "6-10)")] = P.local_crops,
    local_size: Annotated[int | None, typer.Option(help="Side of the local views in px "
                          "(default: 3/7 of --size, DINO's 96/224)")] = P.local_size,
    positives: Annotated[str, typer.Option(help="Second view from: image (the same image), "
                         "study or patient (another image of the same study/patient when "
                         "there is one, MICLe)")] = P.positives,
    resident: Annotated[str, typer.Option(help="Keep the train images on the training "
                        "device and gather batches there: auto (on a GPU when they fit in a "
                        "quarter of its free memory), on, off (stream them)")] = P.resident,
    compile: Annotated[str, typer.Option(help="torch.compile the backbone: auto (on a GPU), "
                       "on, off")] = P.compile,
    channels_last: Annotated[str, typer.Option(help="Channels-last memory: auto (on a GPU), "
                             "on, off")] = P.channels_last,
    out: Annotated[Path, typer.Option(help="Run folder to write")] = Path("runs/pretrain"),
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its "
                      "last checkpoint")] = False,
    classes: ClassesOpt = None, exclude: ExcludeOpt = None, patient_regex: RegexOpt = None,
    body_part: PartOpt = None,
    split_seed: SplitSeedOpt = DATA.seed, val: ValOpt = DATA.val, test: TestOpt = DATA.test,
    config: ConfigOpt = None,
) -> None:
    """Train an encoder without labels (SimCLR, BYOL or another registered method) and write a
    run folder."""
    from medaug.config import load_raw
    from medaug.data.config import prepare_from_dict
    from medaug.errors import ConfigError
    from medaug.store import ENCODER_FILE, TRAINING_FILE, read_run
    from medaug.train.pretrain import run_pretrain
    from medaug.train.pretrain_config import pretrain_from_dict

    quiet_lightning()
    base = load_raw(config) if config is not None else None
    saved = read_run(out) if resume else None
    if saved is not None:
        if config is not None:
            raise ConfigError("--resume takes the settings saved in the run folder; drop "
                              "--config")
        base = saved.config
    resolved = overlay(ctx, base, KEYS)
    source = str(config) if config else "command line"
    result = run_pretrain(prepare_from_dict(resolved, source), pretrain_from_dict(resolved, source),
                          out, resume=resume, say=console.print)
    console.print(f"finished in {result.seconds:.0f} s: {out}/{ENCODER_FILE}, per-epoch rows "
                  f"in {out}/{TRAINING_FILE}")


@app.command()
@friendly
def curves(
    runs: Annotated[list[Path], typer.Argument(help="Run folders of `medaug pretrain`")],
    out: Annotated[Path, typer.Option(help="PNG to write")] = Path("out/curves.png"),
) -> None:
    """One picture of several runs' per-epoch loss, kNN accuracy, spread and speed."""
    from medaug.train.curves import check_runs, plot_curves

    check_runs(runs)
    console.print(f"wrote {plot_curves(runs, out)}")
