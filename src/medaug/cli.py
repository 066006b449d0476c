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
console = Console()
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
ConfigOpt = Annotated[Path | None, typer.Option(help="YAML file with data/preprocess sections; "
                      "options given here override it")]


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
    from medaug.config import config_from_dict, config_to_dict, load_config
    from medaug.data.sources.folder import parse_classes

    base = load_config(config) if config is not None else None
    resolved = config_to_dict(base) if base is not None else {"data": {}, "preprocess": {}}
    for name, (section, key) in _CONFIG_KEYS.items():
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
        resolved[section][key] = value
    return config_from_dict(resolved, source=str(config) if config else "command line")


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


if __name__ == "__main__":
    app()
