"""``medaug data summary`` and ``medaug prepare``."""

from __future__ import annotations

from pathlib import Path

import typer

from medaug.cli.app import app, console, data_app, friendly
from medaug.cli.options import (
    DATA,
    DEFAULT_DATASET,
    PRE,
    PREPARE_KEYS,
    ClaheOpt,
    ClassesOpt,
    ClipOpt,
    ConfigOpt,
    DataOpt,
    ExcludeOpt,
    PartOpt,
    RegexOpt,
    SeedOpt,
    SizeOpt,
    TestOpt,
    TileOpt,
    ValOpt,
    WorkersOpt,
    layered,
)
from medaug.data.config import PrepareConfig


def resolve(ctx: typer.Context, config: Path | None) -> PrepareConfig:
    """The command's data and preprocessing: the ``--config`` file (or defaults), then every
    option given on the command line on top of it."""
    from medaug.data.config import prepare_from_dict

    resolved, source = layered(ctx, config, [], PREPARE_KEYS)
    return prepare_from_dict(resolved, source)


@data_app.command("summary")
@friendly
def data_summary(ctx: typer.Context, data: DataOpt = DEFAULT_DATASET,
                 classes: ClassesOpt = None, exclude: ExcludeOpt = None,
                 patient_regex: RegexOpt = None, body_part: PartOpt = None,
                 seed: SeedOpt = DATA.seed, val: ValOpt = DATA.val, test: TestOpt = DATA.test,
                 config: ConfigOpt = None) -> None:
    """Images, patients and studies per split, class and body part; imbalance ratios."""
    from medaug.data.datasets import load_dataset
    from medaug.data.summary import summary_table

    resolved = resolve(ctx, config)
    manifest = load_dataset(resolved.data.dataset, resolved.data.options)
    console.print(summary_table(manifest))
    console.print("leakage check: passed (no patient or study in two splits)")


@app.command()
@friendly
def prepare(ctx: typer.Context, data: DataOpt = DEFAULT_DATASET, size: SizeOpt = PRE.size,
            clahe: ClaheOpt = PRE.clahe, clip_limit: ClipOpt = PRE.clip_limit,
            tile_grid: TileOpt = PRE.tile_grid, workers: WorkersOpt = None,
            classes: ClassesOpt = None, exclude: ExcludeOpt = None,
            patient_regex: RegexOpt = None, body_part: PartOpt = None, seed: SeedOpt = DATA.seed,
            val: ValOpt = DATA.val, test: TestOpt = DATA.test, config: ConfigOpt = None) -> None:
    """Decode, CLAHE, resize and cache a dataset (reused when nothing changed)."""
    from medaug.data.open import open_dataset

    resolved = resolve(ctx, config)
    cache = open_dataset(resolved, workers=workers, progress=console.is_terminal)
    state = "reused" if cache.reused else "built"
    side = resolved.preprocess.size
    reasons = ", ".join(f"{n} {category}" for category, n in cache.rejection_summary())
    console.print(f"{state} cache {cache.root}: {len(cache)} images of {side}x{side} px, "
                  f"{len(cache.rejected)} rejected"
                  + (f" ({reasons}; listed in {cache.root / 'rejected.csv'})"
                     if len(cache.rejected) else ""))
