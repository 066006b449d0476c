"""Reader for MURA v1.1 (Rajpurkar et al., 2017, "MURA: Large Dataset for Abnormality
Detection in Musculoskeletal Radiographs", arXiv:1712.06957).

Layout::

    MURA-v1.1/
      train_image_paths.csv      MURA-v1.1/train/XR_SHOULDER/patient00001/study1_positive/image1.png
      train_labeled_studies.csv  MURA-v1.1/train/XR_SHOULDER/patient00001/study1_positive/,1
      valid_image_paths.csv
      valid_labeled_studies.csv
      {train,valid}/XR_<PART>/patient<ID>/study<N>_<positive|negative>/image<K>.png

The official CSVs have no header row; copies that add one (``path`` / ``path,label``) read too.
Paths in the CSVs are relative to the parent of ``MURA-v1.1``; a renamed top folder works
because the first path component is replaced by the folder actually found.

MURA's test set is hidden, so the official ``valid`` set becomes split ``test`` and ``train``
stays ``train``; a validation split is carved from ``train`` later by the generic split step.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from medaug.data.manifest import Manifest, Record
from medaug.errors import DataError

FOLDER = "MURA-v1.1"
OFFICIAL_SPLITS: dict[str, str] = {"train": "train", "valid": "test"}
SUFFIX_LABELS: dict[str, int] = {"_positive": 1, "_negative": 0}
MAX_NAMED = 5


def read_mura(root: str | Path, body_parts: Sequence[str] | None = None) -> Manifest:
    """Read MURA v1.1 into a Manifest (one row per image, labels per study).

    Args:
        root: the ``MURA-v1.1`` folder itself or the folder that contains it.
        body_parts: keep only these body parts, e.g. ``["XR_ELBOW", "wrist"]`` (case-insensitive,
            the ``XR_`` prefix optional); ``None`` keeps all seven.

    Returns:
        Manifest ``mura`` with ``patient_id`` like ``patient00001``, ``study_id`` like
        ``XR_SHOULDER/patient00001/study1_positive`` (unique across body parts), ``body_part``
        like ``XR_SHOULDER`` and split ``train`` (official train) or ``test`` (official valid).

    Raises:
        DataError: when a CSV is missing or malformed, a study's CSV label contradicts its
            folder suffix (``_positive``/``_negative``), an image belongs to no labelled study,
            a body part is unknown, image files are missing, or a class has no images.
    """
    base = _find_base(Path(root).expanduser())
    records: list[Record] = []
    for official, split in OFFICIAL_SPLITS.items():
        studies = _read_labeled_studies(base / f"{official}_labeled_studies.csv", base)
        for image_csv, line, parts in _read_image_paths(base / f"{official}_image_paths.csv"):
            study_key = "/".join(parts[:-1])
            if study_key not in studies:
                raise DataError(
                    f"MURA: image {'/'.join(parts)} ({image_csv.name} line {line}) belongs to "
                    f"no study in {official}_labeled_studies.csv"
                )
            _, body_part, patient, study = parts[:-1]
            records.append(
                Record(
                    path=str((base.joinpath(*parts)).resolve()),
                    label=studies[study_key],
                    patient_id=patient,
                    study_id=f"{body_part}/{patient}/{study}",
                    body_part=body_part,
                    split=split,
                )
            )
    records = _filter_body_parts(records, body_parts)
    _require_files(records, base)
    return Manifest.from_records(records, name="mura").require_images(root)


def normalise_body_part(name: str) -> str:
    """``"elbow"``, ``"xr_elbow"`` and ``"XR_ELBOW"`` all become ``"XR_ELBOW"``."""
    upper = name.strip().upper()
    return upper if upper.startswith("XR_") else f"XR_{upper}"


# ---------------------------------------------------------------------- layout
def _find_base(root: Path) -> Path:
    """The ``MURA-v1.1`` folder: ``root`` itself when it holds the CSVs, else ``root/MURA-v1.1``."""
    if not root.is_dir():
        raise DataError(f"MURA: root {root} is not a folder")
    if (root / "train_image_paths.csv").is_file() or root.name == FOLDER:
        return root
    if (root / FOLDER).is_dir():
        return root / FOLDER
    return root  # the missing-CSV error below names the path it expected


def _rel_parts(raw: str) -> list[str]:
    """CSV path -> parts below the ``MURA-v1.1`` folder (``train/XR_.../image1.png``)."""
    parts = [p for p in raw.strip().replace("\\", "/").split("/") if p and p != "."]
    if parts and parts[0] not in OFFICIAL_SPLITS:
        parts = parts[1:]  # "MURA-v1.1" (or a renamed top folder)
    return parts


def _looks_like_path(value: str) -> bool:
    return "/" in value or "\\" in value


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    """Non-empty CSV rows with their 1-based line numbers; DataError when the file is missing."""
    if not path.is_file():
        raise DataError(f"MURA: expected CSV {path} not found")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = [(i, [c.strip() for c in row]) for i, row in enumerate(csv.reader(handle), 1)]
    return [(i, row) for i, row in rows if row and any(row)]


# ---------------------------------------------------------------------- CSVs
def _read_labeled_studies(path: Path, base: Path) -> dict[str, int]:
    """``{"train/XR_SHOULDER/patient00001/study1_positive": 1, ...}``, cross-checked."""
    rows = _rows(path)
    if rows and (len(rows[0][1]) < 2 or not rows[0][1][1].lstrip("-").isdigit()):
        rows = rows[1:]  # header such as "path,label"
    studies: dict[str, int] = {}
    for line, row in rows:
        where = f"{path.name} line {line}"
        if len(row) < 2:
            raise DataError(f"MURA: {where} of {path} needs 'study_path,label', got {row!r}")
        parts = _rel_parts(row[0])
        if len(parts) != 4:
            raise DataError(
                f"MURA: {where}: study path {row[0]!r} is not <split>/XR_<PART>/<patient>/<study>/"
            )
        if row[1] not in ("0", "1"):
            raise DataError(f"MURA: {where}: label must be 0 or 1, got {row[1]!r} for {row[0]}")
        label, key, study = int(row[1]), "/".join(parts), parts[-1]
        for suffix, folder_label in SUFFIX_LABELS.items():
            if study.lower().endswith(suffix) and folder_label != label:
                raise DataError(
                    f"MURA: study {'/'.join(parts[1:])} has label {label} in {path.name} but its "
                    f"folder name says {suffix[1:]} ({folder_label})"
                )
        if studies.get(key, label) != label:
            raise DataError(f"MURA: study {'/'.join(parts[1:])} has two labels in {path}")
        studies[key] = label
    return studies


def _read_image_paths(path: Path) -> list[tuple[Path, int, list[str]]]:
    """``(csv, line, parts)`` for every image row; ``parts`` are below ``MURA-v1.1``."""
    rows = _rows(path)
    if rows and not _looks_like_path(rows[0][1][0]):
        rows = rows[1:]  # header such as "path"
    out: list[tuple[Path, int, list[str]]] = []
    for line, row in rows:
        parts = _rel_parts(row[0])
        if len(parts) != 5:
            raise DataError(
                f"MURA: {path.name} line {line}: image path {row[0]!r} is not "
                "<split>/XR_<PART>/<patient>/<study>/<image>"
            )
        out.append((path, line, parts))
    return out


# ---------------------------------------------------------------------- checks
def _filter_body_parts(records: list[Record], body_parts: Sequence[str] | None) -> list[Record]:
    if body_parts is None:
        return records
    if isinstance(body_parts, str):
        body_parts = [body_parts]
    found = sorted({r.body_part for r in records})
    wanted = {normalise_body_part(b) for b in body_parts}
    unknown = sorted(wanted - set(found))
    if unknown:
        raise DataError(
            f"MURA: unknown body part(s) {', '.join(unknown)}; found: {', '.join(found) or 'none'}"
        )
    return [r for r in records if r.body_part in wanted]


def _require_files(records: list[Record], base: Path) -> None:
    missing = [r.path for r in records if not Path(r.path).is_file()]
    if missing:
        shown = "\n  ".join(missing[:MAX_NAMED])
        raise DataError(
            f"MURA: {len(missing)} of {len(records)} image(s) listed in the CSVs under {base} are "
            f"missing (is root the MURA-v1.1 folder or its parent?); first missing:\n  {shown}"
        )
