"""Reader for the AI Hub X-ray sets (Korean synthetic / body-part X-ray data).

Typical layout (Korean names, one JSON label file per image)::

    <root>/
      Training/                       (or 1.Training, 학습 ...; Validation / 2.Validation / 검증)
        01.원천데이터/                 source images ("원천데이터", "source", "raw" or "image")
          TS_Foot_Abnormal/xxx.png
        02.라벨링데이터/               labels ("라벨링데이터" or "label")
          TL_Foot_Abnormal/xxx.json   {"filepath": ..., "filename": "xxx.png", "label": "Abnormal"}

``label`` ``"Normal"`` (any case, or ``"정상"``) is 0; any other non-empty value is 1. The
``filepath`` field records where the data was first unpacked: it is used when it exists (as the
file, or as a folder holding ``filename``), otherwise the image is found by ``filename`` under
the source folder(s) beside the label folder (indexed once by one walk).

Files under a Training-like folder get split ``train``, under a Validation-like folder ``test``
(the official validation set serves as test set), otherwise ``""``. ``body_part`` comes from
the category folder (``TL_Foot_Abnormal`` -> ``Foot``). ``patient_id`` is a JSON field among
``patient_id``/``patientId``/``case_id`` when present, else the image file's stem: without
patient information each image counts as its own patient (and study).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from medaug.data.manifest import Manifest, Record
from medaug.errors import DataError

LABEL_DIR = re.compile(r"라벨링데이터|label", re.IGNORECASE)
SOURCE_DIR = re.compile(r"원천데이터|source|raw|image", re.IGNORECASE)
TRAIN_NAMES = frozenset({"train", "training", "학습", "훈련"})
TEST_NAMES = frozenset({"valid", "validation", "val", "검증"})
CATEGORY_PREFIX = re.compile(r"^(?:\d+[._\s-]*)?(?:[TV][LS][_-])?", re.IGNORECASE)
CATEGORY_SUFFIX = re.compile(r"[_\s-]*(?:abnormal|normal|비정상|정상)$", re.IGNORECASE)
NORMAL_VALUES = frozenset({"normal", "정상"})
PATIENT_KEYS: tuple[str, ...] = ("patient_id", "patientId", "case_id")
REQUIRED_KEYS: tuple[str, ...] = ("filepath", "filename", "label")
MAX_DEPTH = 4


def read_aihub(root: str | Path) -> Manifest:
    """Read an AI Hub X-ray set (JSON label files + source images) into a Manifest.

    Args:
        root: a label folder (name containing ``라벨링데이터`` or ``label``) or a folder holding
            one or more of them, possibly below ``Training``/``Validation`` folders.

    Returns:
        Manifest ``aihub`` with absolute image paths, labels 0/1, ``body_part`` from the category
        folder and split ``train``/``test``/``""`` from a Training/Validation folder.

    Raises:
        DataError: when no label folder or JSON file is found, a JSON is malformed or lacks a
            required key, its image is found neither at ``filepath`` nor by ``filename``, or a
            class has no images.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"AI Hub: root {root} is not a folder")
    records: list[Record] = []
    for label_dir in _label_dirs(root):
        jsons, local_images = _walk_label_dir(label_dir)
        if not jsons:
            raise DataError(f"AI Hub: label folder {label_dir} holds no .json label files")
        index = _index_sources(label_dir, local_images)
        records.extend(_record(path, label_dir, index) for path in jsons)
    return Manifest.from_records(records, name="aihub").require_images(root)


def body_part_of(category: str) -> str:
    """``TL_Foot_Abnormal`` -> ``Foot``; ``Foot_Normal`` -> ``Foot``; ``Abnormal`` -> ``""``."""
    name = CATEGORY_PREFIX.sub("", category, count=1)
    if name.lower() in {"abnormal", "normal", "비정상", "정상"}:
        return ""
    return CATEGORY_SUFFIX.sub("", name)


def split_of(name: str) -> str:
    """``Training``/``1.Training`` -> ``train``; ``Validation``/``2.Validation`` -> ``test``."""
    bare = re.sub(r"^[\d\s._-]+", "", name).lower()
    if bare in TRAIN_NAMES:
        return "train"
    if bare in TEST_NAMES:
        return "test"
    return ""


# ---------------------------------------------------------------------- layout
def _label_dirs(root: Path) -> list[Path]:
    """Label folders below ``root`` (source folders skipped), else ``root`` if named like one."""
    found: list[Path] = []
    for current, dirs, _ in os.walk(root):
        depth = len(Path(current).relative_to(root).parts)
        keep = []
        for name in sorted(dirs):
            if LABEL_DIR.search(name):
                found.append(Path(current) / name)
            elif not SOURCE_DIR.search(name) and depth < MAX_DEPTH:
                keep.append(name)
        dirs[:] = keep
    if not found and LABEL_DIR.search(root.name):
        return [root]
    if not found:
        raise DataError(
            f"AI Hub: no label folder (name containing '라벨링데이터' or 'label') in {root}"
        )
    return found


def _walk_label_dir(label_dir: Path) -> tuple[list[Path], list[Path]]:
    """JSON files and any other files (images stored beside their labels) under ``label_dir``."""
    jsons: list[Path] = []
    others: list[Path] = []
    for current, dirs, files in os.walk(label_dir):
        dirs.sort()
        for name in sorted(files):
            (jsons if name.lower().endswith(".json") else others).append(Path(current) / name)
    return jsons, others


def _index_sources(label_dir: Path, extra: list[Path]) -> dict[str, list[Path]]:
    """``filename -> paths`` over source folders beside ``label_dir`` (one walk each)."""
    index: dict[str, list[Path]] = {}
    for path in extra:
        index.setdefault(path.name, []).append(path)
    parent = label_dir.parent
    for source in sorted(p for p in parent.iterdir() if p.is_dir() and p != label_dir):
        if not SOURCE_DIR.search(source.name) or LABEL_DIR.search(source.name):
            continue
        for current, dirs, files in os.walk(source):
            dirs.sort()
            for name in files:
                index.setdefault(name, []).append(Path(current) / name)
    return index


# ---------------------------------------------------------------------- one JSON
def _record(path: Path, label_dir: Path, index: dict[str, list[Path]]) -> Record:
    data = _load(path)
    values = {key: _find_key(data, key) for key in REQUIRED_KEYS}
    for key, value in values.items():
        if value is None:
            raise DataError(f"AI Hub: label file {path} lacks the required key {key!r}")
    filename = str(values["filename"]).strip()
    if not filename:
        raise DataError(f"AI Hub: label file {path} has an empty 'filename'")
    folders = path.relative_to(label_dir).parts[:-1]
    category = next((f for f in folders if not split_of(f)), "")
    split = next(
        (s for s in map(split_of, reversed((label_dir.parent.name, *folders))) if s), ""
    )
    filepath = str(values["filepath"])
    image = _locate(label_dir, filepath, filename)
    bare = Path(filename.replace("\\", "/")).name  # index keys are bare file names
    if image is None and bare not in index:
        raise DataError(
            f"AI Hub: label file {path}: image {filename!r} not found at filepath {filepath!r} "
            f"nor by name under the source folder(s) beside {label_dir}"
        )
    if image is None:
        image = _pick(path, filename, index[bare], category, split)
    patients = (str(_find_key(data, k) or "").strip() for k in PATIENT_KEYS)
    patient = next((p for p in patients if p), Path(bare).stem)
    return Record(
        path=str(image.resolve()),
        label=_label(values["label"], path),
        patient_id=patient,
        body_part=body_part_of(category),
        split=split,
    )


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"AI Hub: label file {path} is not valid UTF-8 JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise DataError(f"AI Hub: label file {path} holds a {type(data).__name__}, not an object")
    return data


def _find_key(data: dict[str, Any], key: str) -> Any:
    """``data[key]``, else the first match in nested objects (some sets nest their fields)."""
    if key in data:
        return data[key]
    for value in data.values():
        if isinstance(value, dict):
            found = _find_key(value, key)
            if found is not None:
                return found
    return None


def _label(value: Any, path: Path) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        return value
    text = str(value).strip() if value is not None else ""
    if not text:
        raise DataError(f"AI Hub: label file {path} has an empty 'label'")
    return 0 if text.lower() in NORMAL_VALUES else 1


def _locate(label_dir: Path, filepath: str, filename: str) -> Path | None:
    """The JSON's ``filepath`` (the file, or a folder holding ``filename``) when it exists.

    A relative ``filepath`` is taken relative to the folder that holds the label folder.
    """
    if not filepath.strip():
        return None
    given = Path(filepath.strip()).expanduser()
    if not given.is_absolute():
        given = label_dir.parent / given
    return next((c for c in (given, given / filename) if c.is_file()), None)


def _pick(path: Path, filename: str, candidates: list[Path], category: str, split: str) -> Path:
    """One of the indexed files named ``filename``: the one in the mirrored category and split."""
    base = CATEGORY_PREFIX.sub("", category, count=1).lower()
    tests = (
        lambda c: any(CATEGORY_PREFIX.sub("", p, count=1).lower() == base for p in c.parts),
        lambda c: any(split_of(p) == split for p in c.parts) if split else True,
    )
    for test in tests:  # narrow down while more than one remains
        if len(candidates) > 1:
            kept = [c for c in candidates if test(c.parent)]
            candidates = kept or candidates
    if len(candidates) > 1:
        shown = ", ".join(str(c) for c in candidates[:3])
        raise DataError(
            f"AI Hub: label file {path}: image {filename!r} is ambiguous, found at {shown}"
        )
    return candidates[0]
