"""``medaug probe``, ``medaug supervised``, ``medaug compare`` and ``medaug label-curve``."""

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
    comma,
    layered,
    section_keys,
)
from medaug.evaluate.probe_config import ProbeConfig
from medaug.train.supervised_config import SupervisedConfig

Q = ProbeConfig()
S = SupervisedConfig()
#: CLI option -> (config section, key) of ``medaug probe``.
PROBE_KEYS: dict[str, tuple[str, str]] = {
    **DATA_KEYS, **section_keys("probe", ("seeds", "probes", "knn_k", "class_weight",
                                          "threshold", "bootstrap", "random_baseline",
                                          "device"), label_fractions="fractions")}
#: CLI option -> (config section, key) of ``medaug supervised``.
SUPERVISED_KEYS: dict[str, tuple[str, str]] = {
    **DATA_KEYS, **section_keys("supervised", (
        "seeds", "backbone", "ops", "epochs", "batch_size", "optimizer", "lr", "weight_decay",
        "class_weight", "seed", "accelerator", "precision", "workers", "threshold",
        "bootstrap"), label_fractions="fractions")}


@app.command()
@friendly
def probe(
    ctx: typer.Context,
    encoder: Annotated[list[str], typer.Option("--encoder", "-e", help="Run folder of `medaug "
                       "pretrain`/`supervised`, random:<backbone>[@seed] or "
                       "imagenet:resnet18|resnet50 (repeatable)")],
    data: DataOpt = DEFAULT_DATASET, size: SizeOpt = PRE.size, clahe: ClaheOpt = PRE.clahe,
    clip_limit: ClipOpt = PRE.clip_limit, tile_grid: TileOpt = PRE.tile_grid,
    label_fractions: Annotated[str, typer.Option(help="Fractions of the training labels, e.g. "
                               "0.01,0.1,1.0 (patient-grouped, both classes kept)")] =
        comma(Q.fractions),
    seeds: Annotated[int, typer.Option(help="Label subsets drawn per fraction below 1")] = Q.seeds,
    probes: Annotated[str, typer.Option("--probes", help="logistic, knn or logistic,knn")] =
        comma(Q.probes),
    knn_k: Annotated[int, typer.Option(help="Neighbours of the kNN probe")] = Q.knn_k,
    class_weight: Annotated[str, typer.Option(help="none or balanced (logistic probe)")] =
        str(Q.class_weight).lower(),
    threshold: Annotated[str, typer.Option(help="youden (chosen on val) or a fixed "
                         "probability")] = Q.threshold,
    bootstrap: Annotated[int, typer.Option(help="Patient-level bootstrap replicates")] =
        Q.bootstrap,
    random_baseline: Annotated[bool, typer.Option("--random-baseline/--no-random-baseline",
                               help="Also probe each run's backbone randomly initialised with "
                               "the run's seed, and compare")] = Q.random_baseline,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda (feature extraction)")] =
        Q.device,
    out: Annotated[Path, typer.Option(help="Evaluation folder to write")] = Path("runs/probe"),
    classes: ClassesOpt = None, exclude: ExcludeOpt = None, patient_regex: RegexOpt = None,
    body_part: PartOpt = None,
    split_seed: SplitSeedOpt = DATA.seed, val: ValOpt = DATA.val, test: TestOpt = DATA.test,
    config: ConfigOpt = None,
) -> None:
    """Freeze encoders, fit logistic-regression and kNN probes on the labels, and report test
    metrics with patient-level 95% confidence intervals (data and preprocessing default to
    those the first run was trained on)."""
    from medaug.data.config import prepare_from_dict
    from medaug.evaluate.linear_eval import run_probe
    from medaug.evaluate.probe_config import probe_from_dict
    from medaug.evaluate.report import print_comparisons, print_summary

    raw, source = layered(ctx, config, encoder, PROBE_KEYS)
    resolved, settings = prepare_from_dict(raw, source), probe_from_dict(raw, source)
    result = run_probe(resolved, encoder, settings, out, say=console.print)
    print_summary(console, result.summary, title=f"test split of {resolved.data.dataset}")
    print_comparisons(console, result.comparisons)
    if len(settings.fractions) > 1:
        from medaug.evaluate.label_curve import CURVE_FILE, plot_label_curve

        console.print(f"wrote {plot_label_curve(result.summary, out / CURVE_FILE)}")
    saved = ", probes/" if "logistic" in settings.probes else ""
    from medaug.evaluate.body_parts import BODY_PARTS_FILE

    if (out / BODY_PARTS_FILE).is_file():
        import pandas as pd
        from rich.table import Table

        parts = pd.read_csv(out / BODY_PARTS_FILE)
        table = Table(title="test AUROC per body part [95% CI]")
        for col in ("model", "probe", "fraction", "body part", "AUROC", "images"):
            table.add_column(col)
        for r in parts[parts["seed"] == 0].itertuples():
            table.add_row(str(r.model), str(r.probe), f"{r.fraction:g}", str(r.body_part),
                          f"{r.auroc:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]", str(r.n))
        console.print(table)
        saved += f", {BODY_PARTS_FILE}"
    console.print(f"wrote {out}/ (evaluation.json, metrics.csv, summary.csv, predictions.csv, "
                  f"comparisons.csv{saved}) in {result.seconds:.0f} s")


@app.command()
@friendly
def supervised(
    ctx: typer.Context,
    data: DataOpt = DEFAULT_DATASET, size: SizeOpt = PRE.size, clahe: ClaheOpt = PRE.clahe,
    clip_limit: ClipOpt = PRE.clip_limit, tile_grid: TileOpt = PRE.tile_grid,
    backbone: Annotated[str, typer.Option(help="Backbone (as for pretrain)")] = S.backbone,
    ops: Annotated[str, typer.Option(help="Training augmentation spec ('none' for none)")] =
        S.ops,
    epochs: Annotated[int, typer.Option(help="Epochs over the full train split (label "
                      "fractions train as many steps)")] = S.epochs,
    batch_size: Annotated[int, typer.Option(help="Images per step")] = S.batch_size,
    optimizer: Annotated[str, typer.Option(help="adamw or sgd")] = S.optimizer,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate (default 1e-3 adamw, "
                  "0.1 sgd), cosine decay")] = S.lr,
    weight_decay: Annotated[float, typer.Option(help="Weight decay")] = S.weight_decay,
    class_weight: Annotated[str, typer.Option(help="none or balanced")] =
        str(S.class_weight).lower(),
    label_fractions: Annotated[str, typer.Option(help="Fractions of the training labels, e.g. "
                               "0.01,0.1,1.0")] = "1.0",
    seeds: Annotated[int, typer.Option(help="Label subsets per fraction below 1")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of initialisation, order and "
                    "augmentation")] = S.seed,
    accelerator: Annotated[str, typer.Option(help="auto, cpu or gpu")] = S.accelerator,
    precision: Annotated[str, typer.Option(help="auto or a Lightning precision")] = S.precision,
    workers: Annotated[int, typer.Option(help="DataLoader workers")] = S.workers,
    threshold: Annotated[str, typer.Option(help="youden (chosen on val) or a fixed "
                         "probability")] = S.threshold,
    bootstrap: Annotated[int, typer.Option(help="Patient-level bootstrap replicates")] =
        S.bootstrap,
    name: Annotated[str, typer.Option(help="Model name in the tables")] = "supervised",
    out: Annotated[Path, typer.Option(help="Run folder to write")] = Path("runs/supervised"),
    resume: Annotated[bool, typer.Option("--resume", help="Continue an unfinished run")] =
        False,
    classes: ClassesOpt = None, exclude: ExcludeOpt = None, patient_regex: RegexOpt = None,
    body_part: PartOpt = None,
    split_seed: SplitSeedOpt = DATA.seed, val: ValOpt = DATA.val, test: TestOpt = DATA.test,
    config: ConfigOpt = None,
) -> None:
    """Train the supervised baseline end to end on the labels and report its test metrics
    with patient-level 95% confidence intervals."""
    from medaug.data.config import prepare_from_dict
    from medaug.evaluate.report import print_summary
    from medaug.train.supervised import run_supervised_grid
    from medaug.train.supervised_config import supervised_from_dict

    quiet_lightning()
    raw, source = layered(ctx, config, [], SUPERVISED_KEYS)
    resolved = prepare_from_dict(raw, source)
    settings, fractions, subsets = supervised_from_dict(raw, source)
    result = run_supervised_grid(resolved, settings, out, fractions, subsets, name=name,
                                 resume=resume, say=console.print)
    print_summary(console, result.summary, title=f"test split of {resolved.data.dataset}")
    if len(set(result.summary["fraction"])) > 1:
        from medaug.evaluate.label_curve import CURVE_FILE, plot_label_curve

        console.print(f"wrote {plot_label_curve(result.summary, out / CURVE_FILE)}")
    console.print(f"wrote {out}/ in {result.seconds:.0f} s")


@app.command("compare")
@friendly
def compare_cmd(
    a: Annotated[str, typer.Argument(help="Evaluation folder (of probe or supervised), "
                 "optionally FOLDER::MODEL")],
    b: Annotated[str, typer.Argument(help="The other one")],
    probe: Annotated[str | None, typer.Option(help="Probe to compare (default: logistic where "
                     "there is one, else the folder's only one)")] = None,
    fraction: Annotated[float, typer.Option(help="Label fraction")] = 1.0,
    seed: Annotated[int | None, typer.Option(help="Label-subset seed (default: the first)")] =
        None,
    bootstrap: Annotated[int, typer.Option(help="Paired bootstrap replicates")] = 2000,
    out: Annotated[Path | None, typer.Option(help="CSV to write the comparison to")] = None,
) -> None:
    """AUROC difference of two evaluated models on the same test images, with a paired
    patient-level bootstrap 95% interval and p-value."""
    from medaug.evaluate.compare import compare
    from medaug.evaluate.report import print_comparisons
    from medaug.store import write_table

    table = compare(a, b, probe=probe, fraction=fraction, seed=seed, n_boot=bootstrap)
    print_comparisons(console, table)
    if out is not None:
        console.print(f"wrote {write_table(out, table)}")


@app.command("label-curve")
@friendly
def label_curve(
    folders: Annotated[list[Path], typer.Argument(help="Evaluation folders of `medaug probe` "
                       "and `medaug supervised`")],
    out: Annotated[Path, typer.Option(help="PNG to write")] = Path("out/label_curve.png"),
    level: Annotated[str, typer.Option(help="image or study")] = "image",
) -> None:
    """Test AUROC and balanced accuracy against the fraction of training labels, one line per
    model (logistic probes and supervised runs)."""
    from medaug.evaluate.label_curve import plot_label_curve, read_summaries

    console.print(f"wrote {plot_label_curve(read_summaries(folders, level), out)}")
