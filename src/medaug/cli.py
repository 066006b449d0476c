"""The ``medaug`` command: one Typer app, each subcommand a thin call into the package."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from medaug.errors import MedaugError

if TYPE_CHECKING:
    from medaug.config import PrepareConfig
    from medaug.data.cache import CachedDataset
    from medaug.data.manifest import Manifest

app = typer.Typer(help="Which augmentations make self-supervised pretraining work best on your "
                  "X-ray collection, and the evidence.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
data_app = typer.Typer(help="Inspect datasets.", no_args_is_help=True)
augment_app = typer.Typer(help="Augmentation ops: list them, preview them.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks that print ratios measured side by side.",
                        no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(augment_app, name="augment")
app.add_typer(bench_app, name="bench")
# Tables stay readable when the output goes to a file or a CI log (rich would wrap at 80).
console = Console(width=None if sys.stdout.isatty() else 200)
F = TypeVar("F", bound=Callable[..., Any])

DataOpt = Annotated[str, typer.Option("--data", "-d", help="Preset (pneumoniamnist, knee, "
                    "knee-drop1, chest, chest-fullres) or folder:|csv:|mura:|aihub:|medmnist:PATH")]
ClassesOpt = Annotated[str | None, typer.Option(help="folder: class map, e.g. "
                       "'0=normal,1=normal,2=abnormal'")]
ExcludeOpt = Annotated[list[str] | None, typer.Option("--exclude", help="folder: class to drop "
                       "(repeatable)")]
RegexOpt = Annotated[str | None, typer.Option(help="Patient ID regex on the file stem (group 1)")]
PartOpt = Annotated[list[str] | None, typer.Option("--body-part", help="MURA body part to keep, "
                    "e.g. XR_ELBOW (repeatable)")]
SeedOpt = Annotated[int, typer.Option(help="Seed of the patient-grouped split")]
ValOpt = Annotated[float, typer.Option(help="Val fraction where there is no official val split")]
TestOpt = Annotated[float, typer.Option(help="Test fraction where there are no splits at all")]
SizeOpt = Annotated[int, typer.Option(help="Side of the square cache images (px)")]
ClaheOpt = Annotated[bool, typer.Option("--clahe/--no-clahe", help="Apply CLAHE")]
ClipOpt = Annotated[float, typer.Option(help="CLAHE clip limit")]
TileOpt = Annotated[int, typer.Option(help="CLAHE tiles per side")]
WorkersOpt = Annotated[int | None, typer.Option(help="Decoding processes (default: all cores)")]
ConfigOpt = Annotated[Path | None, typer.Option(help="YAML file with data/preprocess (and "
                      "pretrain, probe, supervised) sections; options given here override it")]


def friendly(fn: F) -> F:
    """Print a :class:`MedaugError` as one clear line and exit 2 instead of a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MedaugError as exc:
            Console(stderr=True, soft_wrap=True).print(
                f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


# CLI option -> (config section, key); the option's value wins over a --config file when given.
_CONFIG_KEYS: dict[str, tuple[str, str]] = {
    "data": ("data", "dataset"), "classes": ("data", "classes"), "exclude": ("data", "exclude"),
    "patient_regex": ("data", "patient_regex"), "body_part": ("data", "body_parts"),
    "seed": ("data", "seed"), "val": ("data", "val"), "test": ("data", "test"),
    "size": ("preprocess", "size"), "clahe": ("preprocess", "clahe"),
    "clip_limit": ("preprocess", "clip_limit"), "tile_grid": ("preprocess", "tile_grid"),
}


def _resolve(ctx: typer.Context, config: Path | None) -> PrepareConfig:
    """The run's configuration: the ``--config`` file (or defaults), then every option given
    on the command line on top of it."""
    from medaug.config import config_from_dict

    resolved, source = _layered(ctx, config, [], _CONFIG_KEYS)
    return config_from_dict(resolved, source)


def _overlay(ctx: typer.Context, base: dict[str, Any] | None,
             keys: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """``base`` (nested sections; ``None`` for defaults) with the command-line options of
    ``keys`` on top: every option when there is no base, else only those given explicitly."""
    from medaug.data.sources.folder import parse_classes

    resolved: dict[str, Any] = {k: dict(v or {}) for k, v in (base or {}).items()}
    for name, (section, key) in keys.items():
        if name not in ctx.params:
            continue
        source = ctx.get_parameter_source(name)  # an enum; DEFAULT when not given
        if base is not None and getattr(source, "name", "") == "DEFAULT":
            continue
        value = ctx.params[name]
        if name == "classes":
            value = parse_classes(value) if value else None
        elif name in ("exclude", "body_part"):
            value = list(value or ())
        resolved.setdefault(section, {})[key] = value
    return resolved


def _load(config: PrepareConfig) -> Manifest:
    from medaug.data.datasets import load_dataset

    return load_dataset(config.data.dataset, config.data.options)


def _prepare(config: PrepareConfig, workers: int | None = None) -> CachedDataset:
    from medaug.config import config_to_dict
    from medaug.data.cache import build_cache

    return build_cache(_load(config), config.preprocess, workers=workers,
                       progress=console.is_terminal, resolved=config_to_dict(config))


@data_app.command("summary")
@friendly
def data_summary(ctx: typer.Context, data: DataOpt = "pneumoniamnist",
                 classes: ClassesOpt = None, exclude: ExcludeOpt = None,
                 patient_regex: RegexOpt = None, body_part: PartOpt = None, seed: SeedOpt = 0,
                 val: ValOpt = 0.15, test: TestOpt = 0.15, config: ConfigOpt = None) -> None:
    """Images, patients and studies per split, class and body part; imbalance ratios."""
    from medaug.data.summary import summary_table

    manifest = _load(_resolve(ctx, config))
    console.print(summary_table(manifest))
    console.print("leakage check: passed (no patient or study in two splits)")


@app.command()
@friendly
def prepare(ctx: typer.Context, data: DataOpt = "pneumoniamnist", size: SizeOpt = 64,
            clahe: ClaheOpt = True, clip_limit: ClipOpt = 2.0, tile_grid: TileOpt = 8,
            workers: WorkersOpt = None, classes: ClassesOpt = None, exclude: ExcludeOpt = None,
            patient_regex: RegexOpt = None, body_part: PartOpt = None, seed: SeedOpt = 0,
            val: ValOpt = 0.15, test: TestOpt = 0.15, config: ConfigOpt = None) -> None:
    """Decode, CLAHE, resize and cache a dataset (reused when nothing changed)."""
    resolved = _resolve(ctx, config)
    cache = _prepare(resolved, workers)
    state = "reused" if cache.reused else "built"
    side = resolved.preprocess.size
    console.print(f"{state} cache {cache.root}: {len(cache)} images of {side}x{side} px, "
                  f"{len(cache.rejected)} rejected"
                  + (f" (listed in {cache.root / 'rejected.csv'})" if len(cache.rejected) else ""))


_PRETRAIN_KEYS: dict[str, tuple[str, str]] = {
    **{k: v for k, v in _CONFIG_KEYS.items() if k != "seed"}, "split_seed": ("data", "seed"),
    **{name: ("pretrain", name) for name in (
        "method", "ops", "ops2", "backbone", "epochs", "batch_size", "optimizer", "lr",
        "weight_decay", "warmup_epochs", "temperature", "momentum_base", "proj_hidden",
        "proj_dim", "seed", "knn_k", "accelerator", "devices", "num_nodes", "strategy",
        "precision", "workers")},
}


@app.command()
@friendly
def pretrain(
    ctx: typer.Context,
    data: DataOpt = "pneumoniamnist",
    method: Annotated[str, typer.Option(help="simclr or byol")] = "simclr",
    ops: Annotated[str, typer.Option(help="Augmentation spec of the views, e.g. "
                   "'rotate+flip+chessboard' (see `medaug augment list`)")] =
        "crop+rotate+flip+blur+intensity",
    ops2: Annotated[str | None, typer.Option(help="Spec of the second view when it differs "
                    "(BYOL's asymmetric views)")] = None,
    backbone: Annotated[str, typer.Option(help="resnet18, resnet50, resnet18-small, "
                        "resnet50-small (3x3 stem, no max-pool: for <= 64 px) or timm:<name>")] =
        "resnet18",
    size: SizeOpt = 64, clahe: ClaheOpt = True, clip_limit: ClipOpt = 2.0,
    tile_grid: TileOpt = 8,
    epochs: Annotated[int, typer.Option(help="Epochs over the train split")] = 10,
    batch_size: Annotated[int, typer.Option(help="Images per process and step")] = 64,
    optimizer: Annotated[str, typer.Option(help="sgd or adamw")] = "sgd",
    lr: Annotated[float | None, typer.Option(help="Peak learning rate (default: 0.06 x "
                  "global batch / 128 for sgd, 1e-3 x batch / 256 for adamw)")] = None,
    weight_decay: Annotated[float, typer.Option(help="Weight decay")] = 5e-4,
    warmup_epochs: Annotated[float, typer.Option(help="Linear warm-up before the cosine "
                             "decay")] = 0.0,
    temperature: Annotated[float, typer.Option(help="SimCLR NT-Xent temperature")] = 0.2,
    momentum_base: Annotated[float, typer.Option(help="BYOL target momentum at the start "
                             "(cosine schedule to 1)")] = 0.99,
    proj_hidden: Annotated[int | None, typer.Option(help="Projection hidden width (default: "
                           "the method's paper value)")] = None,
    proj_dim: Annotated[int | None, typer.Option(help="Projection output width")] = None,
    seed: Annotated[int, typer.Option(help="Seed of initialisation, shuffling and "
                    "augmentation")] = 0,
    knn_k: Annotated[int, typer.Option(help="Neighbours of the kNN monitor")] = 20,
    accelerator: Annotated[str, typer.Option(help="auto, cpu or gpu")] = "auto",
    devices: Annotated[int, typer.Option(help="Processes per node (2+ runs DDP; gloo on the "
                       "CPU)")] = 1,
    num_nodes: Annotated[int, typer.Option(help="Nodes (launch with torchrun or srun, see "
                         "the README)")] = 1,
    strategy: Annotated[str, typer.Option(help="Lightning strategy (auto: DDP when several "
                        "processes)")] = "auto",
    precision: Annotated[str, typer.Option(help="auto (bf16-mixed on a GPU that has it, "
                         "16-mixed on other GPUs, 32-true on the CPU) or a Lightning "
                         "precision")] = "auto",
    workers: Annotated[int, typer.Option(help="DataLoader workers")] = 0,
    out: Annotated[Path, typer.Option(help="Run folder to write")] = Path("runs/pretrain"),
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its "
                      "last checkpoint")] = False,
    classes: ClassesOpt = None, exclude: ExcludeOpt = None, patient_regex: RegexOpt = None,
    body_part: PartOpt = None,
    split_seed: Annotated[int, typer.Option(help="Seed of the patient-grouped split")] = 0,
    val: ValOpt = 0.15, test: TestOpt = 0.15, config: ConfigOpt = None,
) -> None:
    """Train an encoder without labels (SimCLR or BYOL) and write a run folder."""
    import json

    from medaug.config import config_from_dict, load_raw, pretrain_from_dict
    from medaug.errors import ConfigError
    from medaug.train.pretrain import RUN_FILE, run_pretrain

    _quiet_lightning()
    base = load_raw(config) if config is not None else None
    if resume and (out / RUN_FILE).is_file():
        if config is not None:
            raise ConfigError("--resume takes the settings saved in the run folder; drop "
                              "--config")
        base = json.loads((out / RUN_FILE).read_text())["config"]
    resolved = _overlay(ctx, base, _PRETRAIN_KEYS)
    source = str(config) if config else "command line"
    result = run_pretrain(config_from_dict(resolved, source), pretrain_from_dict(resolved, source),
                          out, resume=resume, say=console.print)
    console.print(f"finished in {result.seconds:.0f} s: {out}/encoder.pt, metrics in "
                  f"{out}/metrics.csv")


_DATA_KEYS: dict[str, tuple[str, str]] = {
    **{k: v for k, v in _CONFIG_KEYS.items() if k != "seed"}, "split_seed": ("data", "seed")}


_PROBE_KEYS: dict[str, tuple[str, str]] = {
    **_DATA_KEYS, "label_fractions": ("probe", "fractions"),
    **{name: ("probe", name) for name in ("seeds", "probes", "knn_k", "class_weight",
                                          "threshold", "bootstrap", "random_baseline",
                                          "device")}}
_SUPERVISED_KEYS: dict[str, tuple[str, str]] = {
    **_DATA_KEYS, "label_fractions": ("supervised", "fractions"),
    **{name: ("supervised", name) for name in (
        "seeds", "backbone", "ops", "epochs", "batch_size", "optimizer", "lr", "weight_decay",
        "class_weight", "seed", "accelerator", "precision", "workers", "threshold",
        "bootstrap")}}


def _layered(ctx: typer.Context, config: Path | None, folders: list[str],
                       keys: dict[str, tuple[str, str]]) -> tuple[dict[str, Any], str]:
    """The resolved config sections and where they came from: the ``--config`` file, else the
    data and preprocessing saved in the first run folder among ``folders`` (so a probe sees
    what pretraining saw), else the defaults; options of ``keys`` given on the command line
    override them."""
    import json

    from medaug.config import load_raw

    base = load_raw(config) if config is not None else None
    source = str(config) if config else "command line"
    if base is None:
        for folder in folders:
            run = Path(folder) / "run.json"
            if run.is_file():
                saved = json.loads(run.read_text()).get("config") or {}
                base = {k: saved[k] for k in ("data", "preprocess") if k in saved}
                source = str(run)
                break
    return _overlay(ctx, base, keys), source


@app.command()
@friendly
def probe(
    ctx: typer.Context,
    encoder: Annotated[list[str], typer.Option("--encoder", "-e", help="Run folder of `medaug "
                       "pretrain`/`supervised`, random:<backbone>[@seed] or "
                       "imagenet:resnet18|resnet50 (repeatable)")],
    data: DataOpt = "pneumoniamnist", size: SizeOpt = 64, clahe: ClaheOpt = True,
    clip_limit: ClipOpt = 2.0, tile_grid: TileOpt = 8,
    label_fractions: Annotated[str, typer.Option(help="Fractions of the training labels, e.g. "
                               "0.01,0.1,1.0 (patient-grouped, both classes kept)")] = "1.0",
    seeds: Annotated[int, typer.Option(help="Label subsets drawn per fraction below 1")] = 3,
    probes: Annotated[str, typer.Option("--probes", help="logistic, knn or logistic,knn")] =
        "logistic,knn",
    knn_k: Annotated[int, typer.Option(help="Neighbours of the kNN probe")] = 20,
    class_weight: Annotated[str, typer.Option(help="none or balanced (logistic probe)")] =
        "none",
    threshold: Annotated[str, typer.Option(help="youden (chosen on val) or a fixed "
                         "probability")] = "youden",
    bootstrap: Annotated[int, typer.Option(help="Patient-level bootstrap replicates")] = 1000,
    random_baseline: Annotated[bool, typer.Option("--random-baseline/--no-random-baseline",
                               help="Also probe each run's backbone randomly initialised with "
                               "the run's seed, and compare")] = True,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda (feature extraction)")] =
        "auto",
    out: Annotated[Path, typer.Option(help="Evaluation folder to write")] = Path("runs/probe"),
    classes: ClassesOpt = None, exclude: ExcludeOpt = None, patient_regex: RegexOpt = None,
    body_part: PartOpt = None,
    split_seed: Annotated[int, typer.Option(help="Seed of the patient-grouped split")] = 0,
    val: ValOpt = 0.15, test: TestOpt = 0.15, config: ConfigOpt = None,
) -> None:
    """Freeze encoders, fit logistic-regression and kNN probes on the labels, and report test
    metrics with patient-level 95% confidence intervals (data and preprocessing default to
    those the first run was trained on)."""
    from medaug.config import config_from_dict, probe_from_dict
    from medaug.evaluate.linear_eval import run_probe
    from medaug.evaluate.report import print_comparisons, print_summary

    raw, source = _layered(ctx, config, encoder, _PROBE_KEYS)
    resolved, settings = config_from_dict(raw, source), probe_from_dict(raw, source)
    result = run_probe(resolved, encoder, settings, out, say=console.print)
    print_summary(console, result.summary, title=f"test split of {resolved.data.dataset}")
    print_comparisons(console, result.comparisons)
    if len(settings.fractions) > 1:
        from medaug.evaluate.label_curve import CURVE_FILE, plot_label_curve

        console.print(f"wrote {plot_label_curve(result.summary, out / CURVE_FILE)}")
    console.print(f"wrote {out}/ (evaluation.json, metrics.csv, summary.csv, predictions.csv, "
                  f"comparisons.csv) in {result.seconds:.0f} s")


@app.command()
@friendly
def supervised(
    ctx: typer.Context,
    data: DataOpt = "pneumoniamnist", size: SizeOpt = 64, clahe: ClaheOpt = True,
    clip_limit: ClipOpt = 2.0, tile_grid: TileOpt = 8,
    backbone: Annotated[str, typer.Option(help="Backbone (as for pretrain)")] = "resnet18",
    ops: Annotated[str, typer.Option(help="Training augmentation spec ('none' for none)")] =
        "crop+rotate+flip+blur+intensity",
    epochs: Annotated[int, typer.Option(help="Epochs over the full train split (label "
                      "fractions train as many steps)")] = 30,
    batch_size: Annotated[int, typer.Option(help="Images per step")] = 64,
    optimizer: Annotated[str, typer.Option(help="adamw or sgd")] = "adamw",
    lr: Annotated[float | None, typer.Option(help="Peak learning rate (default 1e-3 adamw, "
                  "0.1 sgd), cosine decay")] = None,
    weight_decay: Annotated[float, typer.Option(help="Weight decay")] = 1e-4,
    class_weight: Annotated[str, typer.Option(help="none or balanced")] = "none",
    label_fractions: Annotated[str, typer.Option(help="Fractions of the training labels, e.g. "
                               "0.01,0.1,1.0")] = "1.0",
    seeds: Annotated[int, typer.Option(help="Label subsets per fraction below 1")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of initialisation, order and "
                    "augmentation")] = 0,
    accelerator: Annotated[str, typer.Option(help="auto, cpu or gpu")] = "auto",
    precision: Annotated[str, typer.Option(help="auto or a Lightning precision")] = "auto",
    workers: Annotated[int, typer.Option(help="DataLoader workers")] = 0,
    threshold: Annotated[str, typer.Option(help="youden (chosen on val) or a fixed "
                         "probability")] = "youden",
    bootstrap: Annotated[int, typer.Option(help="Patient-level bootstrap replicates")] = 1000,
    name: Annotated[str, typer.Option(help="Model name in the tables")] = "supervised",
    out: Annotated[Path, typer.Option(help="Run folder to write")] = Path("runs/supervised"),
    resume: Annotated[bool, typer.Option("--resume", help="Continue an unfinished run")] =
        False,
    classes: ClassesOpt = None, exclude: ExcludeOpt = None, patient_regex: RegexOpt = None,
    body_part: PartOpt = None,
    split_seed: Annotated[int, typer.Option(help="Seed of the patient-grouped split")] = 0,
    val: ValOpt = 0.15, test: TestOpt = 0.15, config: ConfigOpt = None,
) -> None:
    """Train the supervised baseline end to end on the labels and report its test metrics
    with patient-level 95% confidence intervals."""
    from medaug.config import config_from_dict, supervised_from_dict
    from medaug.evaluate.report import print_summary
    from medaug.evaluate.supervised_run import run_supervised_grid

    _quiet_lightning()
    raw, source = _layered(ctx, config, [], _SUPERVISED_KEYS)
    resolved = config_from_dict(raw, source)
    settings, fractions, subsets = supervised_from_dict(raw, source)
    result = run_supervised_grid(resolved, settings, out, fractions, subsets, name=name,
                                 resume=resume, say=console.print)
    print_summary(console, result.summary, title=f"test split of {resolved.data.dataset}")
    if len(set(result.summary["fraction"])) > 1:
        from medaug.evaluate.label_curve import CURVE_FILE, plot_label_curve

        console.print(f"wrote {plot_label_curve(result.summary, out / CURVE_FILE)}")
    console.print(f"wrote {out}/ in {result.seconds:.0f} s")


_EXPLAIN_KEYS: dict[str, tuple[str, str]] = {
    **_DATA_KEYS, "image_path": ("explain", "paths"), "faithfulness_images":
    ("explain", "faithfulness_images"), "explain_seed": ("explain", "seed"),
    **{name: ("explain", name) for name in ("images", "method", "target", "layer", "threshold",
                                            "class_weight", "bootstrap", "batch_size",
                                            "device")}}


@app.command()
@friendly
def explain(
    ctx: typer.Context,
    more_runs: Annotated[list[str] | None, typer.Argument(metavar="[RUNS]...", help="More runs "
                         "(so `--runs A B C` works)", show_default=False)] = None,
    runs: Annotated[list[str] | None, typer.Option("--runs", "-r", help="Run folder of `medaug "
                    "pretrain` (probe fitted on top) or `medaug supervised` (its own head), or "
                    "random:<backbone>[@seed]; the first model's calls choose the images")] =
        None,
    data: DataOpt = "pneumoniamnist", size: SizeOpt = 64, clahe: ClaheOpt = True,
    clip_limit: ClipOpt = 2.0, tile_grid: TileOpt = 8,
    images: Annotated[int, typer.Option(help="Panel rows: test images mixing the first "
                      "model's TP, FN, FP and TN")] = 8,
    image_path: Annotated[list[str] | None, typer.Option("--image", help="Show this image "
                          "instead (path, or its end such as KL4/x.png, or FILE.npz#INDEX; "
                          "repeatable)")] = None,
    method: Annotated[str, typer.Option(help="gradcam, gradcam++ or eigencam")] = "gradcam",
    target: Annotated[str, typer.Option(help="abnormal (the abnormal logit) or predicted (each "
                      "model's own call)")] = "abnormal",
    layer: Annotated[str, typer.Option(help="last (the encoder's last convolutional block) or "
                     "a module name such as layer3 (finer maps for small images)")] = "last",
    faithfulness_images: Annotated[int, typer.Option(help="Test images scored with ROAD per "
                                   "model (0: none)")] = 64,
    threshold: Annotated[str, typer.Option(help="youden (chosen on val) or a fixed "
                         "probability")] = "youden",
    class_weight: Annotated[str, typer.Option(help="none or balanced (logistic probe)")] =
        "none",
    bootstrap: Annotated[int, typer.Option(help="Patient-level bootstrap replicates")] = 1000,
    batch_size: Annotated[int, typer.Option(help="Images per forward/backward pass")] = 32,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    explain_seed: Annotated[int, typer.Option("--seed", help="Seed of the image choice, random "
                            "maps, imputation noise and bootstrap")] = 0,
    out: Annotated[Path, typer.Option(help="Folder to write")] = Path("out/explain"),
    classes: ClassesOpt = None, exclude: ExcludeOpt = None, patient_regex: RegexOpt = None,
    body_part: PartOpt = None,
    split_seed: Annotated[int, typer.Option(help="Seed of the patient-grouped split")] = 0,
    val: ValOpt = 0.15, test: TestOpt = 0.15, config: ConfigOpt = None,
) -> None:
    """Grad-CAM panel of several models on the same test images (rows: images, columns:
    models) and each model's heat-map faithfulness (ROAD) against random maps, with
    patient-level 95% intervals (data and preprocessing default to the first run's)."""
    from medaug.config import config_from_dict, explain_from_dict
    from medaug.explain.report import print_faithfulness
    from medaug.explain.run import run_explain

    specs = [*(runs or []), *(more_runs or [])]
    raw, source = _layered(ctx, config, specs, _EXPLAIN_KEYS)
    resolved, settings = config_from_dict(raw, source), explain_from_dict(raw, source)
    result = run_explain(resolved, specs, settings, out, say=console.print)
    print_faithfulness(console, result.faithfulness, result.pairs)
    console.print(f"wrote {result.panel} and {out}/ (images.csv, heatmaps.npz, "
                  f"faithfulness.csv, faithfulness_images.csv, faithfulness_pairs.csv, "
                  f"mean_maps.png, mean_heat.npz, explain.json) in {result.seconds:.0f} s")


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
    from medaug.evaluate.record import write_table
    from medaug.evaluate.report import print_comparisons

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


def _quiet_lightning() -> None:
    """Keep Lightning's info lines and known deprecation chatter out of the output."""
    import logging
    import warnings

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")


@app.command()
@friendly
def curves(
    runs: Annotated[list[Path], typer.Argument(help="Run folders of `medaug pretrain`")],
    out: Annotated[Path, typer.Option(help="PNG to write")] = Path("out/curves.png"),
) -> None:
    """One picture of several runs' per-epoch loss, kNN accuracy, spread and speed."""
    from medaug.errors import TrainingError
    from medaug.train.curves import plot_curves
    from medaug.train.monitor import METRICS_FILE

    missing = [str(r) for r in runs if not (r / METRICS_FILE).is_file()]
    if missing:
        raise TrainingError(f"no {METRICS_FILE} in {', '.join(missing)} (not a pretraining run "
                            "folder?)")
    console.print(f"wrote {plot_curves(runs, out)}")


@augment_app.command("list")
@friendly
def augment_list() -> None:
    """Registered ops and their parameters."""
    from medaug.augment.registry import available_ops, create_op, op_parameters

    for name in available_ops():
        console.print(f"[bold]{name}[/]({', '.join(op_parameters(name))})  default: "
                      f"{create_op(name)!r}", highlight=False)


@augment_app.command("preview")
@friendly
def augment_preview(
    data: DataOpt = "pneumoniamnist",
    ops: Annotated[str, typer.Option(help="Spec, e.g. 'crop+rotate+flip+chessboard'")] =
        "crop+rotate+flip+blur+chessboard+erase+intensity",
    size: SizeOpt = 64, clahe: ClaheOpt = True, images: Annotated[int, typer.Option(
        help="Real images (columns)")] = 6,
    out: Annotated[Path, typer.Option(help="PNG to write")] = Path("out/augment_preview.png"),
    seed: Annotated[int, typer.Option(help="Seed of image choice and augmentation")] = 0,
) -> None:
    """A PNG grid: originals first, then a row per op (forced on), then the whole pipeline."""
    import numpy as np
    import torch

    from medaug.augment.preview import write_preview
    from medaug.augment.registry import build_ops
    from medaug.config import DataConfig, PrepareConfig
    from medaug.data.manifest import CLASS_NAMES
    from medaug.data.preprocess import PreprocessConfig

    build_ops(ops)  # fail on a bad spec before any data work
    cache = _prepare(PrepareConfig(DataConfig(data), PreprocessConfig(size=size, clahe=clahe)))
    frame = cache.manifest.frame
    rng = np.random.default_rng(seed)
    labels = frame["label"].to_numpy()
    picks = [int(rng.choice(np.flatnonzero(labels == k % 2))) for k in range(images)]
    batch = torch.from_numpy(np.stack([cache.images[i] for i in picks])).float().div(255)
    titles = [f"{CLASS_NAMES[int(frame['label'].iat[i])]}: {Path(frame['path'].iat[i]).name}"
              + (f"[{frame['index'].iat[i]}]" if frame["index"].iat[i] >= 0 else "")
              for i in picks]
    path = write_preview(batch.unsqueeze(1), ops, out, seed=seed, titles=titles)
    console.print(f"wrote {path} ({images} images from {cache.root.name}, ops {ops})")


@bench_app.command("augment")
@friendly
def bench_augment(
    data: DataOpt = "chest",
    images: Annotated[int, typer.Option(help="Real images to run through both pipelines")] = 256,
    batch: Annotated[int, typer.Option(help="Batch size of the batched pipeline (16 is the "
                     "fastest measured on a 2-core CPU; use 256+ on a GPU)")] = 16,
    device: Annotated[str, typer.Option(help="cpu or cuda for the batched pipeline")] = "cpu",
    repeats: Annotated[int, typer.Option(help="Timed passes (best is reported)")] = 3,
) -> None:
    """Two-view throughput: batched pipeline vs the original study's per-image pipeline."""
    from medaug.bench.augment import run_augment_bench

    run_augment_bench(data=data, n_images=images, batch=batch, device=device, repeats=repeats,
                      console=console)


@bench_app.command("train")
@friendly
def bench_train(
    data: DataOpt = "knee", size: SizeOpt = 64,
    batch: Annotated[int, typer.Option(help="Images per step")] = 64,
    steps: Annotated[int, typer.Option(help="Timed steps per round and mode")] = 8,
    rounds: Annotated[int, typer.Option(help="Interleaved rounds (the median is reported)")] = 3,
    method: Annotated[list[str] | None, typer.Option("--method", help="Method to time "
                      "(repeatable; default simclr and byol)")] = None,
    ops: Annotated[str, typer.Option(help="Augmentation spec of the views")] =
        "crop+rotate+flip+blur+intensity",
    backbone: Annotated[str, typer.Option(help="Backbone")] = "resnet18",
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
) -> None:
    """Training throughput with views made on the fly against pre-augmented views, and the
    ratio (target >= 0.9: augmentation is never the bottleneck)."""
    from medaug.bench.train import run_train_bench

    _quiet_lightning()
    run_train_bench(data=data, size=size, batch=batch, steps=steps, rounds=rounds,
                    methods=tuple(method or ("simclr", "byol")), ops=ops, backbone=backbone,
                    device=device, console=console)


if __name__ == "__main__":
    app()
