"""``medaug bench augment``, ``medaug bench train`` and ``medaug bench data``."""

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


BenchDataOpt = Annotated[str, typer.Option("--data", "-d", help="Preset (pneumoniamnist, "
                         "knee, knee-drop1, chest, chest-fullres), folder:|csv:|mura:|aihub:|"
                         "medmnist:PATH, or synthetic:N (N generated images at --size; "
                         "nothing read or written)")]
StepsOpt = Annotated[int, typer.Option(help="Timed steps per round and mode (and of the "
                     "profiled pass)")]
WarmupOpt = Annotated[int, typer.Option(help="Untimed steps before each timed run (with "
                      "compile on, the first ones compile: keep >= 1)")]
RoundsOpt = Annotated[int, typer.Option(help="Interleaved rounds (the median is reported)")]
OpsOpt = Annotated[str, typer.Option(help="Augmentation spec of the views")]
BackboneOpt = Annotated[str, typer.Option(help="Backbone")]
AcceleratorOpt = Annotated[str, typer.Option(help="auto (CUDA when there, else the CPU), cpu, "
                           "gpu or cuda")]
DeviceOpt = Annotated[str | None, typer.Option(help="Older spelling of --accelerator: cpu, "
                      "cuda or cuda:N (wins over --accelerator auto; any other accelerator "
                      "must agree)")]
PrecisionOpt = Annotated[str, typer.Option(help="auto (bf16-mixed on a GPU that has it, "
                         "16-mixed on other GPUs, 32-true on the CPU), bf16-mixed, 16-mixed "
                         "or 32-true")]
CompileOpt = Annotated[str, typer.Option(help="torch.compile the backbone: auto (on for "
                       "CUDA), on, off")]
ChannelsLastOpt = Annotated[str, typer.Option(help="Channels-last memory: auto (on for "
                            "CUDA), on, off")]


@bench_app.command("train")
@friendly
def bench_train(
    data: BenchDataOpt = "knee", size: SizeOpt = 64,
    batch: Annotated[int, typer.Option(help="Source images per step (two views each)")] = 64,
    steps: StepsOpt = 8, warmup: WarmupOpt = 2, rounds: RoundsOpt = 3,
    method: Annotated[list[str] | None, typer.Option("--method", help="Method to time "
                      "(repeatable; default simclr and byol)")] = None,
    ops: OpsOpt = DEFAULT_OPS, backbone: BackboneOpt = "resnet18",
    accelerator: AcceleratorOpt = "auto", device: DeviceOpt = None,
    precision: PrecisionOpt = "auto", compile: CompileOpt = "auto",
    channels_last: ChannelsLastOpt = "auto",
    resident: Annotated[str, typer.Option(help="uint8 batches kept on the device and gathered "
                        "there: auto (on a GPU when they fit in a quarter of its free "
                        "memory), on, off (copied from pinned host memory every step)")] =
        "auto",
) -> None:
    """Training throughput (source images/s) with data and views in the step against
    pre-augmented views, the ratio (target >= 0.9: the input side is never the bottleneck),
    and the share of step time in data, augmentation, forward+backward and optimiser."""
    from medaug.bench.train import run_train_bench

    quiet_lightning()
    run_train_bench(data=data, size=size, batch=batch, steps=steps, warmup=warmup,
                    rounds=rounds, methods=tuple(method or ("simclr", "byol")), ops=ops,
                    backbone=backbone, accelerator=accelerator, device=device,
                    precision=precision, compile=compile, channels_last=channels_last,
                    resident=resident, console=console)


@bench_app.command("data")
@friendly
def bench_data(
    dataset_sizes: Annotated[str, typer.Option(help="Comma-separated sizes of the synthetic "
                             "sets, e.g. 1000,10000,100000")] = "1000,10000,100000",
    size: SizeOpt = 64,
    batch: Annotated[int, typer.Option(help="Source images per step (two views each)")] = 64,
    steps: StepsOpt = 8, warmup: WarmupOpt = 2, rounds: RoundsOpt = 3,
    method: Annotated[str, typer.Option(help="Method to time")] = "simclr",
    ops: OpsOpt = DEFAULT_OPS, backbone: BackboneOpt = "resnet18",
    accelerator: AcceleratorOpt = "auto", device: DeviceOpt = None,
    precision: PrecisionOpt = "auto", compile: CompileOpt = "auto",
    channels_last: ChannelsLastOpt = "auto",
) -> None:
    """Training throughput (source images/s) against dataset size: random batches from
    synthetic sets of each size, streamed from host memory and resident on the device, side
    by side (resident should be flat)."""
    from medaug.bench.dataset_size import run_size_sweep
    from medaug.errors import ConfigError

    try:
        sizes = [int(part) for part in dataset_sizes.split(",") if part.strip()]
    except ValueError as exc:
        raise ConfigError(f"bench data: --dataset-sizes must be comma-separated integers, "
                          f"got {dataset_sizes!r}") from exc
    quiet_lightning()
    run_size_sweep(dataset_sizes=sizes, size=size, batch=batch, steps=steps, warmup=warmup,
                   rounds=rounds, method=method, ops=ops, backbone=backbone,
                   accelerator=accelerator, device=device, precision=precision,
                   compile=compile, channels_last=channels_last, console=console)
