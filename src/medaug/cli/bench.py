"""``medaug bench augment`` and ``medaug bench train``."""

from __future__ import annotations

from typing import Annotated

import typer

from medaug.augment.pipeline import DEFAULT_OPS
from medaug.cli.app import bench_app, console, friendly, quiet_lightning
from medaug.cli.options import DataOpt, SizeOpt


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
        DEFAULT_OPS,
    backbone: Annotated[str, typer.Option(help="Backbone")] = "resnet18",
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
) -> None:
    """Training throughput with views made on the fly against pre-augmented views, and the
    ratio (target >= 0.9: augmentation is never the bottleneck)."""
    from medaug.bench.train import run_train_bench

    quiet_lightning()
    run_train_bench(data=data, size=size, batch=batch, steps=steps, rounds=rounds,
                    methods=tuple(method or ("simclr", "byol")), ops=ops, backbone=backbone,
                    device=device, console=console)
