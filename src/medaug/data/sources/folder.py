"""Folder layout: ``root[/<split>]/<class>/<files>``, the class folder names the label.

Class folders map to normal (0) or abnormal (1) through ``classes``; classes listed in
``exclude`` are dropped (the knee set: KL 0-1 normal, 2-4 abnormal, or drop the doubtful KL 1).
Split folders (``train``, ``val``/``valid``/``validation``, ``test``) are used when present.
Every non-hidden file in a class folder is listed; files that do not decode are rejected later,
by name, when the cache is built. The patient ID comes from ``patient_regex`` (its first group,
matched on the file stem) or, for DICOM files, their PatientID tag; otherwise each image is its
own patient.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from medaug.data.manifest import Manifest, Record
from medaug.errors import DataError

SPLIT_ALIASES: dict[str, str] = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val",
    "test": "test", "testing": "test",
}
NORMAL_NAMES = ("normal", "negative", "benign", "healthy")
ABNORMAL_NAMES = ("abnormal", "positive", "disease", "pneumonia", "malignant")


def read_folder(
    root: str | Path,
    classes: Mapping[str, int] | None = None,
    exclude: Sequence[str] = (),
    patient_regex: str | None = None,
    patient_scope: str = "global",
    body_part: str = "",
    name: str | None = None,
) -> Manifest:
    """Read a class-per-folder tree.

    Args:
        root: the folder holding class folders, or split folders holding class folders.
        classes: class folder name -> 0 (normal) or 1 (abnormal). When omitted, folder names
            are recognised (``normal``/``abnormal``, ``negative``/``positive``, ...).
        exclude: class folder names to drop.
        patient_regex: regex on the file stem; group 1 (or the whole match) is the patient ID.
        patient_scope: ``"global"`` or ``"split"``: with ``"split"`` IDs are prefixed by the
            split, for sets whose numbering is not a reliable identity across splits.
        body_part: value of the ``body_part`` column.
        name: dataset name (default: the folder's name).

    Raises:
        DataError: missing root, no class folders, an unmapped class, or no images.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset folder {root} does not exist")
    regex = re.compile(patient_regex) if patient_regex else None
    if patient_scope not in ("global", "split"):
        raise DataError(f"patient_scope must be 'global' or 'split', got {patient_scope!r}")
    class_dirs = _class_dirs(root)
    if not class_dirs:
        raise DataError(f"{root}: no class folders found (expected root[/<split>]/<class>/*)")
    found = sorted({d.name for _, d in class_dirs})
    mapping = _resolve_classes(root, found, classes, exclude)
    records: list[Record] = []
    for split, cdir in class_dirs:
        if cdir.name in exclude:
            continue
        label = mapping[cdir.name]
        for f in sorted(cdir.rglob("*")):
            if not f.is_file() or any(part.startswith(".") for part in f.relative_to(cdir).parts):
                continue
            pid = _patient_id(f, regex)
            if patient_scope == "split" and split:
                pid = f"{split}/{pid}"
            records.append(Record(path=str(f.resolve()), label=label, patient_id=pid,
                                  body_part=body_part, split=split))
    return Manifest.from_records(records, name or root.name).require_images(root)


def _class_dirs(root: Path) -> list[tuple[str, Path]]:
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    split_dirs = [d for d in subdirs if d.name.lower() in SPLIT_ALIASES]
    if split_dirs and len(split_dirs) == len(subdirs):
        out = []
        for s in split_dirs:
            for c in sorted(s.iterdir()):
                if c.is_dir() and not c.name.startswith("."):
                    out.append((SPLIT_ALIASES[s.name.lower()], c))
        return out
    return [("", d) for d in subdirs]


def _resolve_classes(root: Path, found: list[str], classes: Mapping[str, int] | None,
                     exclude: Sequence[str]) -> dict[str, int]:
    kept = [c for c in found if c not in exclude]
    unknown_excl = [c for c in exclude if c not in found]
    if unknown_excl:
        raise DataError(f"{root}: cannot exclude class(es) {unknown_excl}; found: {found}")
    if classes is None:
        mapping = {}
        for c in kept:
            low = c.lower()
            if low in NORMAL_NAMES:
                mapping[c] = 0
            elif low in ABNORMAL_NAMES:
                mapping[c] = 1
        missing = [c for c in kept if c not in mapping]
        if missing:
            raise DataError(
                f"{root}: cannot tell whether class folder(s) {missing} are normal or abnormal; "
                "give a mapping such as --classes 'NAME=normal,OTHER=abnormal' (found: "
                f"{', '.join(found)})"
            )
        return mapping
    mapping = {str(k): int(v) for k, v in classes.items()}
    bad = {k: v for k, v in mapping.items() if v not in (0, 1)}
    if bad:
        raise DataError(f"{root}: class mapping values must be 0 or 1, got {bad}")
    unmapped = [c for c in kept if c not in mapping]
    if unmapped:
        raise DataError(
            f"{root}: class folder(s) {unmapped} have no label in the mapping {mapping}; "
            "map them or exclude them"
        )
    return mapping


def _patient_id(f: Path, regex: re.Pattern[str] | None) -> str:
    if regex is not None:
        m = regex.search(f.stem)
        if m is None:
            raise DataError(f"{f}: file name does not match patient regex {regex.pattern!r}")
        return m.group(1) if m.groups() else m.group(0)
    if f.suffix.lower() == ".dcm":
        pid = _dicom_patient(f)
        if pid:
            return pid
    return f.stem


def _dicom_patient(f: Path) -> str:
    try:
        import pydicom

        ds = pydicom.dcmread(str(f), stop_before_pixels=True)
        return str(getattr(ds, "PatientID", "") or "")
    except Exception:  # an unreadable file is rejected later, when decoded
        return ""


def parse_classes(text: str) -> dict[str, int]:
    """``"0=normal,1=normal,2=abnormal"`` (or ``=0``/``=1``) -> ``{"0": 0, "1": 0, "2": 1}``."""
    out: dict[str, int] = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        if "=" not in item:
            raise DataError(f"class mapping item {item!r} needs NAME=normal|abnormal")
        key, value = (s.strip() for s in item.rsplit("=", 1))
        low = value.lower()
        if low in ("0", "normal"):
            out[key] = 0
        elif low in ("1", "abnormal"):
            out[key] = 1
        else:
            raise DataError(f"class {key!r}: label must be normal/abnormal (or 0/1), got {value!r}")
    return out
