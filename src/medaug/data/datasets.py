"""Name a dataset, get a split, leakage-checked Manifest.

A data spec is either a preset name or ``kind:path``:

==================  ==========================================================================
``pneumoniamnist``  PneumoniaMNIST (MedMNIST v2), 28 px; ``pneumoniamnist:64`` etc. for the
                    larger official files (downloaded with MD5 check when not found locally)
``knee``            ``knee_oa_kl224``: KL 0-1 normal, KL 2-4 abnormal (official splits)
``knee-drop1``      the same without the doubtful KL 1
``chest``           ``chest_xray_pneumonia_224`` (official train/test, val carved from train)
``chest-fullres``   ``chest_xray_pneumonia_fullres`` (train only; split by patient)
``folder:PATH``     any class-per-folder tree (``classes``/``exclude``/``patient_regex``)
``csv:PATH``        a CSV manifest
``mura:PATH``       MURA v1.1 (``body_parts`` filters)
``aihub:PATH``      AI Hub X-ray label/source folders
==================  ==========================================================================

Presets live under ``MEDAUG_DATA_DIR``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from medaug.data.manifest import Manifest
from medaug.data.splits import assign_splits
from medaug.errors import DataError
from medaug.paths import DATA_ENV, data_dir

DEFAULT_DATASET = "pneumoniamnist"
KNEE_CLASSES = {"0": 0, "1": 0, "2": 1, "3": 1, "4": 1}
CHEST_CLASSES = {"NORMAL": 0, "PNEUMONIA": 1}
# Chest file names: IM-0001-0001, NORMAL2-IM-0427-0001, person100_bacteria_480.
CHEST_PATIENT = r"^(person\d+|NORMAL2-IM-\d+|IM-\d+)"


@dataclass(frozen=True)
class DataOptions:
    """Reader and split options that a data spec may use.

    Args:
        classes: class folder -> 0/1 for ``folder:`` specs.
        exclude: class folders to drop.
        patient_regex: patient ID from the file stem (group 1).
        body_parts: MURA body parts to keep.
        val, test: split fractions where the dataset has no official split.
        seed: split seed.
        imbalance: keep about this many normal train images per abnormal one (abnormal
            train patients dropped at random, :func:`medaug.data.imbalance.subsample_positives`);
            ``None`` keeps the train split as it is.
    """

    classes: Mapping[str, int] | None = None
    exclude: Sequence[str] = ()
    patient_regex: str | None = None
    body_parts: Sequence[str] = field(default_factory=tuple)
    val: float = 0.15
    test: float = 0.15
    seed: int = 0
    imbalance: float | None = None


def load_dataset(spec: str = DEFAULT_DATASET, options: DataOptions | None = None) -> Manifest:
    """Read the dataset named by ``spec``, assign splits, check leakage.

    Raises:
        DataError: unknown spec, missing data, or any reader error.
    """
    opts = options or DataOptions()
    manifest = _read(spec, opts)
    from medaug.data.imbalance import subsample_positives

    manifest = assign_splits(manifest, val=opts.val, test=opts.test, seed=opts.seed)
    return subsample_positives(manifest, opts.imbalance, opts.seed)


def _read(spec: str, opts: DataOptions) -> Manifest:
    kind, _, arg = spec.partition(":")
    if kind in _PRESETS and (not arg or kind == "pneumoniamnist"):
        return _PRESETS[kind](arg, opts)
    if kind in _READERS and arg:
        return _READERS[kind](Path(arg).expanduser(), opts)
    raise DataError(
        f"unknown dataset {spec!r}; presets: {', '.join(_PRESETS)}; "
        f"or one of {', '.join(k + ':PATH' for k in _READERS)}"
    )


def _shared(folder: str) -> Path:
    root = data_dir()
    if root is None:
        raise DataError(f"set {DATA_ENV} to the folder that holds {folder}/ "
                        "(the project's CI uses ../shared/data)")
    path = root / folder
    if not path.is_dir():
        raise DataError(f"{path} does not exist ({DATA_ENV}={root})")
    return path


def _pneumoniamnist(arg: str, opts: DataOptions) -> Manifest:
    from medaug.data.sources.medmnist import locate_medmnist, read_medmnist_npz

    try:
        size = int(arg) if arg else 28
    except ValueError as exc:
        raise DataError(f"pneumoniamnist size must be 28, 64, 128 or 224, got {arg!r}") from exc
    return read_medmnist_npz(locate_medmnist("pneumoniamnist", size), "pneumoniamnist")


def _knee(drop1: bool) -> Callable[[str, DataOptions], Manifest]:
    def read(_: str, opts: DataOptions) -> Manifest:
        from medaug.data.sources.folder import read_folder

        return read_folder(_shared("knee_oa_kl224"), classes=KNEE_CLASSES,
                           exclude=("1",) if drop1 else (), patient_regex=r"^(\d+)[LR]$",
                           body_part="knee", name="knee-drop1" if drop1 else "knee")

    return read


def _chest(folder: str, name: str) -> Callable[[str, DataOptions], Manifest]:
    def read(_: str, opts: DataOptions) -> Manifest:
        from medaug.data.sources.folder import read_folder

        # The official splits reuse some person<N> numbers for different children (see the
        # set's PROVENANCE.md), so IDs are scoped to their split.
        return read_folder(_shared(folder) / "chest_xray", classes=CHEST_CLASSES,
                           patient_regex=CHEST_PATIENT, patient_scope="split",
                           body_part="chest", name=name)

    return read


def _folder(path: Path, opts: DataOptions) -> Manifest:
    from medaug.data.sources.folder import read_folder

    return read_folder(path, classes=opts.classes, exclude=opts.exclude,
                       patient_regex=opts.patient_regex)


def _csv(path: Path, opts: DataOptions) -> Manifest:
    from medaug.data.sources.csvfile import read_csv_manifest

    return read_csv_manifest(path)


def _mura(path: Path, opts: DataOptions) -> Manifest:
    from medaug.data.sources.mura import read_mura

    return read_mura(path, body_parts=list(opts.body_parts) or None)


def _aihub(path: Path, opts: DataOptions) -> Manifest:
    from medaug.data.sources.aihub import read_aihub

    return read_aihub(path)


def _medmnist_file(path: Path, opts: DataOptions) -> Manifest:
    from medaug.data.sources.medmnist import read_medmnist_npz

    return read_medmnist_npz(path, path.stem.split("_")[0])


_PRESETS: dict[str, Callable[[str, DataOptions], Manifest]] = {
    "pneumoniamnist": _pneumoniamnist,
    "knee": _knee(drop1=False),
    "knee-drop1": _knee(drop1=True),
    "chest": _chest("chest_xray_pneumonia_224", "chest"),
    "chest-fullres": _chest("chest_xray_pneumonia_fullres", "chest-fullres"),
}
_READERS: dict[str, Callable[[Path, DataOptions], Manifest]] = {
    "folder": _folder,
    "csv": _csv,
    "mura": _mura,
    "aihub": _aihub,
    "medmnist": _medmnist_file,
}
