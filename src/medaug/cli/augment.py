"""``medaug augment list`` and ``medaug augment preview``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medaug.augment.pipeline import DEFAULT_OPS
from medaug.cli.app import augment_app, console, friendly
from medaug.cli.options import DEFAULT_DATASET, PRE, ClaheOpt, DataOpt, SizeOpt

ALL_OPS = "crop+rotate+flip+blur+chessboard+erase+intensity"


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
    data: DataOpt = DEFAULT_DATASET,
    ops: Annotated[str, typer.Option(help="Spec, e.g. 'crop+rotate+flip+chessboard'")] = ALL_OPS,
    size: SizeOpt = PRE.size, clahe: ClaheOpt = PRE.clahe, images: Annotated[int, typer.Option(
        help="Real images (columns)")] = 6,
    out: Annotated[Path, typer.Option(help="PNG to write")] = Path("out/augment_preview.png"),
    seed: Annotated[int, typer.Option(help="Seed of image choice and augmentation")] = 0,
) -> None:
    """A PNG grid: originals first, then a row per op (forced on), then the whole pipeline."""
    from medaug.augment.preview import write_preview
    from medaug.augment.registry import build_ops
    from medaug.data.config import DataConfig, PrepareConfig
    from medaug.data.examples import pick_examples
    from medaug.data.open import open_dataset
    from medaug.data.preprocess import PreprocessConfig

    build_ops(ops)  # fail on a bad spec before any data work
    cache = open_dataset(PrepareConfig(DataConfig(data), PreprocessConfig(size=size,
                                                                          clahe=clahe)),
                         progress=console.is_terminal)
    batch, titles = pick_examples(cache, images, seed)
    path = write_preview(batch.unsqueeze(1), ops, out, seed=seed, titles=titles)
    console.print(f"wrote {path} ({images} images from {cache.root.name}, ops {ops})")


__all__ = ["DEFAULT_OPS"]
