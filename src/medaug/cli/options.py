"""Options every command shares (data, preprocessing, ``--config``) and the layering of a
command's configuration: the ``--config`` file (or the first run folder's saved data and
preprocessing), then every option given on the command line on top of it.

Defaults come from the stage dataclasses (:class:`~medaug.data.datasets.DataOptions`,
:class:`~medaug.data.preprocess.PreprocessConfig`, ...): the command line keeps no second copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from medaug.data.datasets import DEFAULT_DATASET, DataOptions
from medaug.data.preprocess import PreprocessConfig

DATA = DataOptions()
PRE = PreprocessConfig()

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
SplitSeedOpt = Annotated[int, typer.Option(help="Seed of the patient-grouped split")]
ValOpt = Annotated[float, typer.Option(help="Val fraction where there is no official val split")]
TestOpt = Annotated[float, typer.Option(help="Test fraction where there are no splits at all")]
SizeOpt = Annotated[int, typer.Option(help="Side of the square cache images (px)")]
ClaheOpt = Annotated[bool, typer.Option("--clahe/--no-clahe", help="Apply CLAHE")]
ClipOpt = Annotated[float, typer.Option(help="CLAHE clip limit")]
TileOpt = Annotated[int, typer.Option(help="CLAHE tiles per side")]
WorkersOpt = Annotated[int | None, typer.Option(help="Decoding processes (default: all cores)")]
ConfigOpt = Annotated[Path | None, typer.Option(help="YAML file with data/preprocess (and "
                      "pretrain, probe, supervised, explain) sections; options given here "
                      "override it")]

#: CLI option -> (config section, key) of the data and preprocessing options; the option's
#: value wins over a --config file when given.
PREPARE_KEYS: dict[str, tuple[str, str]] = {
    "data": ("data", "dataset"), "classes": ("data", "classes"), "exclude": ("data", "exclude"),
    "patient_regex": ("data", "patient_regex"), "body_part": ("data", "body_parts"),
    "seed": ("data", "seed"), "val": ("data", "val"), "test": ("data", "test"),
    "size": ("preprocess", "size"), "clahe": ("preprocess", "clahe"),
    "clip_limit": ("preprocess", "clip_limit"), "tile_grid": ("preprocess", "tile_grid"),
}
#: The same for commands whose ``--seed`` is their own: the split seed is ``--split-seed``.
DATA_KEYS: dict[str, tuple[str, str]] = {
    **{k: v for k, v in PREPARE_KEYS.items() if k != "seed"}, "split_seed": ("data", "seed")}


def section_keys(section: str, names: Iterable[str], **renamed: str) -> dict[str, tuple[str, str]]:
    """``{option: (section, key)}`` for options named like their keys, plus ``renamed``
    (``option=key``)."""
    keys = {name: (section, name) for name in names}
    keys.update({option: (section, key) for option, key in renamed.items()})
    return keys


def overlay(ctx: typer.Context, base: dict[str, Any] | None,
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


def layered(ctx: typer.Context, config: Path | None, folders: Sequence[str],
            keys: dict[str, tuple[str, str]]) -> tuple[dict[str, Any], str]:
    """The resolved config sections and where they came from: the ``--config`` file, else the
    data and preprocessing saved in the first run folder among ``folders`` (so a probe sees
    what pretraining saw), else the defaults; options of ``keys`` given on the command line
    override them."""
    from medaug.config import load_raw
    from medaug.store import saved_data_config

    base = load_raw(config) if config is not None else None
    source = str(config) if config else "command line"
    if base is None:
        for folder in folders:
            saved = saved_data_config(Path(folder))
            if saved is not None:
                base, source = saved
                break
    return overlay(ctx, base, keys), source


def comma(values: Iterable[Any]) -> str:
    """A tuple default as the comma-separated text an option takes."""
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


__all__ = ["DATA", "DEFAULT_DATASET", "PRE"]
