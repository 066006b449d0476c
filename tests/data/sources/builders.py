"""Tiny synthetic on-disk datasets shaped like MURA v1.1 and AI Hub X-ray, for tests.

Plain functions (usable from any test) behind the fixtures in ``conftest.py``. Images are
16x16 uint8 PNGs: normal ones dark, abnormal ones bright, each with a little seeded noise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

IMAGE_SIZE = 16


def write_png(path: Path, label: int, seed: int = 0) -> Path:
    """Write a 16x16 uint8 PNG (works with non-ASCII paths); returns ``path``."""
    rng = np.random.default_rng(seed)
    base = 180 if label else 60
    image = np.clip(base + rng.integers(-20, 21, (IMAGE_SIZE, IMAGE_SIZE)), 0, 255)
    ok, data = cv2.imencode(".png", image.astype(np.uint8))
    if not ok:  # pragma: no cover - cv2 always encodes a uint8 array
        raise RuntimeError(f"could not encode {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.tobytes())
    return path


# ---------------------------------------------------------------------- MURA
@dataclass(frozen=True)
class MuraStudy:
    """One MURA study: ``label`` is what the CSV says (it may contradict ``study``'s suffix)."""

    split: str  # official folder: "train" or "valid"
    body_part: str  # "XR_SHOULDER"
    patient: str  # "patient00001"
    study: str  # "study1_positive"
    label: int
    n_images: int

    @property
    def rel(self) -> str:
        """Study folder as written in the CSVs (relative to the parent of MURA-v1.1)."""
        return f"MURA-v1.1/{self.split}/{self.body_part}/{self.patient}/{self.study}/"

    @property
    def study_id(self) -> str:
        return f"{self.body_part}/{self.patient}/{self.study}"


MURA_STUDIES: tuple[MuraStudy, ...] = (
    MuraStudy("train", "XR_SHOULDER", "patient00001", "study1_positive", 1, 2),
    MuraStudy("train", "XR_SHOULDER", "patient00002", "study1_negative", 0, 1),
    MuraStudy("train", "XR_ELBOW", "patient00001", "study1_negative", 0, 3),  # study1 twice
    MuraStudy("train", "XR_ELBOW", "patient00003", "study1_positive", 1, 2),
    MuraStudy("train", "XR_ELBOW", "patient00003", "study2_negative", 0, 1),
    MuraStudy("train", "XR_WRIST", "patient00004", "study1_positive", 1, 1),
    MuraStudy("valid", "XR_SHOULDER", "patient11185", "study1_positive", 1, 2),
    MuraStudy("valid", "XR_ELBOW", "patient11186", "study1_negative", 0, 2),
    MuraStudy("valid", "XR_WRIST", "patient11187", "study1_negative", 0, 1),
    MuraStudy("valid", "XR_WRIST", "patient11187", "study2_positive", 1, 1),
)


def make_mura_tree(
    root: Path,
    studies: tuple[MuraStudy, ...] = MURA_STUDIES,
    header: bool = False,
    write_images: bool = True,
) -> Path:
    """Write ``root/MURA-v1.1`` with images and the four official CSVs; returns that folder.

    ``header=True`` adds ``path`` / ``path,label`` header rows (official files have none).
    """
    base = root / "MURA-v1.1"
    base.mkdir(parents=True, exist_ok=True)
    for official in ("train", "valid"):
        image_rows = ["path"] if header else []
        study_rows = ["path,label"] if header else []
        for i, study in enumerate(s for s in studies if s.split == official):
            study_rows.append(f"{study.rel},{study.label}")
            for k in range(1, study.n_images + 1):
                rel = f"{study.rel}image{k}.png"
                image_rows.append(rel)
                if write_images:
                    write_png(root / rel, study.label, seed=i * 100 + k)
        (base / f"{official}_image_paths.csv").write_text("\n".join(image_rows) + "\n")
        (base / f"{official}_labeled_studies.csv").write_text("\n".join(study_rows) + "\n")
    return base


# ---------------------------------------------------------------------- AI Hub
@dataclass(frozen=True)
class AihubImage:
    """One AI Hub image and its JSON label."""

    split_dir: str  # "Training", "Validation" or "" (no split parent)
    category: str  # "Foot_Abnormal"
    filename: str  # "foot_001.png"
    label: str  # "Abnormal" / "Normal"
    patient_id: str | None = None

    @property
    def label_int(self) -> int:
        return 0 if self.label.lower() == "normal" else 1


AIHUB_IMAGES: tuple[AihubImage, ...] = (
    AihubImage("Training", "Foot_Abnormal", "foot_001.png", "Abnormal"),
    AihubImage("Training", "Foot_Abnormal", "발_002.png", "Abnormal"),
    AihubImage("Training", "Foot_Normal", "foot_003.png", "Normal"),
    AihubImage("Training", "Foot_Normal", "foot_004.png", "NORMAL"),
    AihubImage("Training", "Hand_Abnormal", "hand_001.png", "Abnormal"),
    AihubImage("Training", "Hand_Normal", "hand_002.png", "normal"),
    AihubImage("Validation", "Foot_Abnormal", "foot_101.png", "Abnormal"),
    AihubImage("Validation", "Foot_Normal", "foot_102.png", "Normal"),
)

LABEL_FOLDER = "02.라벨링데이터"
SOURCE_FOLDER = "01.원천데이터"
PREFIXES: dict[str, tuple[str, str]] = {"Training": ("TL_", "TS_"), "Validation": ("VL_", "VS_")}


def aihub_json_path(root: Path, image: AihubImage) -> Path:
    """Where :func:`make_aihub_tree` writes the JSON of ``image``."""
    label_prefix, _ = PREFIXES.get(image.split_dir, ("", ""))
    folder = root / image.split_dir / LABEL_FOLDER / f"{label_prefix}{image.category}"
    return folder / f"{Path(image.filename).stem}.json"


def aihub_image_path(root: Path, image: AihubImage) -> Path:
    """Where :func:`make_aihub_tree` writes ``image`` (under the source folder)."""
    _, source_prefix = PREFIXES.get(image.split_dir, ("", ""))
    folder = root / image.split_dir / SOURCE_FOLDER / f"{source_prefix}{image.category}"
    return folder / image.filename


def make_aihub_tree(
    root: Path,
    images: tuple[AihubImage, ...] = AIHUB_IMAGES,
    filepath: str = "/nonexistent/aihub/original/unpack",
) -> Path:
    """Write an AI Hub-shaped tree under ``root`` (Korean folder names); returns ``root``.

    Every JSON's ``filepath`` is ``filepath/<category>`` (by default a folder that does not
    exist, as on a machine other than the one that first unpacked the data), so images must
    be found by ``filename`` under ``01.원천데이터``.
    """
    for seed, image in enumerate(images):
        write_png(aihub_image_path(root, image), image.label_int, seed=seed)
        record: dict[str, str] = {
            "filepath": f"{filepath}/{image.category}",
            "filename": image.filename,
            "label": image.label,
        }
        if image.patient_id is not None:
            record["patient_id"] = image.patient_id
        write_json(aihub_json_path(root, image), record)
    return root


def write_json(path: Path, data: object, bom: bool = False) -> Path:
    """Write ``data`` as UTF-8 JSON (non-ASCII kept), optionally with a BOM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, ensure_ascii=False)
    path.write_text(text, encoding="utf-8-sig" if bom else "utf-8")
    return path
