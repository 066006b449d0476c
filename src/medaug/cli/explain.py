"""``medaug explain``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medaug.cli.app import app, console, friendly
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
    layered,
    section_keys,
)
from medaug.explain.config import ExplainConfig

X = ExplainConfig()
#: CLI option -> (config section, key) of ``medaug explain``.
KEYS: dict[str, tuple[str, str]] = {
    **DATA_KEYS, **section_keys("explain", ("images", "method", "target", "layer", "threshold",
                                            "class_weight", "bootstrap", "batch_size",
                                            "device", "faithfulness_images", "probe"),
                                image_path="paths", explain_seed="seed")}


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
    data: DataOpt = DEFAULT_DATASET, size: SizeOpt = PRE.size, clahe: ClaheOpt = PRE.clahe,
    clip_limit: ClipOpt = PRE.clip_limit, tile_grid: TileOpt = PRE.tile_grid,
    images: Annotated[int, typer.Option(help="Panel rows: test images mixing the first "
                      "model's TP, FN, FP and TN")] = X.images,
    image_path: Annotated[list[str] | None, typer.Option("--image", help="Show this image "
                          "instead (path, or its end such as KL4/x.png, or FILE.npz#INDEX; "
                          "repeatable)")] = None,
    method: Annotated[str, typer.Option(help="gradcam, gradcam++ or eigencam")] = X.method,
    target: Annotated[str, typer.Option(help="abnormal (the abnormal logit) or predicted (each "
                      "model's own call)")] = X.target,
    layer: Annotated[str, typer.Option(help="last (the encoder's last convolutional block) or "
                     "a module name such as layer3 (finer maps for small images)")] = X.layer,
    faithfulness_images: Annotated[int, typer.Option(help="Test images scored with ROAD per "
                                   "model (0: none)")] = X.faithfulness_images,
    threshold: Annotated[str, typer.Option(help="youden (chosen on val) or a fixed "
                         "probability")] = X.threshold,
    class_weight: Annotated[str, typer.Option(help="none or balanced (logistic probe)")] =
        str(X.class_weight).lower(),
    bootstrap: Annotated[int, typer.Option(help="Patient-level bootstrap replicates")] =
        X.bootstrap,
    batch_size: Annotated[int, typer.Option(help="Images per forward/backward pass")] =
        X.batch_size,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = X.device,
    explain_seed: Annotated[int, typer.Option("--seed", help="Seed of the image choice, random "
                            "maps, imputation noise and bootstrap")] = X.seed,
    probe: Annotated[str | None, typer.Option(help="Evaluation folder of `medaug probe`: "
                     "explain its saved probes (matched by encoder weights and data) instead "
                     "of fitting them again")] = X.probe,
    out: Annotated[Path, typer.Option(help="Folder to write")] = Path("out/explain"),
    classes: ClassesOpt = None, exclude: ExcludeOpt = None, patient_regex: RegexOpt = None,
    body_part: PartOpt = None,
    split_seed: SplitSeedOpt = DATA.seed, val: ValOpt = DATA.val, test: TestOpt = DATA.test,
    config: ConfigOpt = None,
) -> None:
    """Grad-CAM panel of several models on the same test images (rows: images, columns:
    models) and each model's heat-map faithfulness (ROAD) against random maps, with
    patient-level 95% intervals (data and preprocessing default to the first run's)."""
    from medaug.data.config import prepare_from_dict
    from medaug.explain.config import explain_from_dict
    from medaug.explain.report import print_faithfulness
    from medaug.explain.run import run_explain

    specs = [*(runs or []), *(more_runs or [])]
    raw, source = layered(ctx, config, specs, KEYS)
    resolved, settings = prepare_from_dict(raw, source), explain_from_dict(raw, source)
    result = run_explain(resolved, specs, settings, out, say=console.print)
    print_faithfulness(console, result.faithfulness, result.pairs)
    console.print(f"wrote {result.panel} and {out}/ (images.csv, heatmaps.npz, "
                  f"faithfulness.csv, faithfulness_images.csv, faithfulness_pairs.csv, "
                  f"mean_maps.png, mean_heat.npz, explain.json) in {result.seconds:.0f} s")
