"""The Manifest: one row per image, the common currency of every data source.

Columns (all present in every Manifest):

- ``path``: image file (absolute), or the ``.npz`` file for array sources;
- ``index``: row in the array for array sources (MedMNIST), ``-1`` for files;
- ``label``: ``0`` normal, ``1`` abnormal;
- ``patient_id``, ``study_id``: grouping keys (a study belongs to one patient);
- ``body_part``: for example ``XR_ELBOW``, ``knee``, ``chest``;
- ``split``: ``train``, ``val``, ``test``, or ``""`` while unassigned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from medaug.errors import DataError

COLUMNS: tuple[str, ...] = (
    "path", "index", "label", "patient_id", "study_id", "body_part", "split"
)
SPLITS: tuple[str, ...] = ("train", "val", "test")
CLASS_NAMES: dict[int, str] = {0: "normal", 1: "abnormal"}


@dataclass(frozen=True)
class Record:
    """One image of a dataset."""

    path: str
    label: int
    patient_id: str
    study_id: str = ""
    body_part: str = ""
    split: str = ""
    index: int = -1


class Manifest:
    """A validated table of images (see the module docstring for the columns).

    Args:
        frame: a table with at least ``path``, ``label`` and ``patient_id``; missing optional
            columns are filled (``study_id`` defaults to ``patient_id``).
        name: the dataset's name, used in messages and cache folders.

    Raises:
        DataError: when a label is not 0/1, a split name is unknown, or a key is empty.
    """

    def __init__(self, frame: pd.DataFrame, name: str = "dataset") -> None:
        self.name = name
        self.frame = _normalise(frame, name)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_records(cls, records: Iterable[Record], name: str = "dataset") -> Manifest:
        rows = [asdict(r) for r in records]
        frame = pd.DataFrame(rows, columns=list(COLUMNS)) if rows else _empty()
        return cls(frame, name)

    @classmethod
    def read_csv(cls, path: str | Path, name: str | None = None) -> Manifest:
        """Read a Manifest written by :meth:`to_csv`."""
        frame = pd.read_csv(path, dtype={"patient_id": str, "study_id": str}, keep_default_na=False)
        return cls(frame, name or Path(path).resolve().parent.name)

    def to_csv(self, path: str | Path) -> None:
        self.frame.to_csv(path, index=False)

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        return f"Manifest(name={self.name!r}, images={len(self)})"

    @property
    def labels(self) -> list[int]:
        return self.frame["label"].astype(int).tolist()

    def subset(self, mask: pd.Series | list[bool]) -> Manifest:
        """Rows where ``mask`` is true, as a new Manifest with a fresh index."""
        return Manifest(self.frame[mask].reset_index(drop=True), self.name)

    def split(self, name: str) -> Manifest:
        """The rows of one split."""
        if name not in SPLITS:
            raise DataError(f"unknown split {name!r}; valid: {', '.join(SPLITS)}")
        return self.subset(self.frame["split"] == name)

    def with_frame(self, frame: pd.DataFrame) -> Manifest:
        return Manifest(frame, self.name)

    @property
    def has_splits(self) -> bool:
        """True when every row has a split."""
        return bool(len(self)) and bool((self.frame["split"] != "").all())

    # ------------------------------------------------------------------ checks
    def require_images(self, source: str | Path | None = None) -> Manifest:
        """Raise unless the Manifest has images of both classes; returns ``self``."""
        where = f" (read from {source})" if source else ""
        if len(self) == 0:
            raise DataError(f"dataset {self.name!r} has no images{where}")
        present = set(self.frame["label"].astype(int))
        for label, cls_name in CLASS_NAMES.items():
            if label not in present:
                raise DataError(
                    f"dataset {self.name!r}: class {label} ({cls_name}) has no images{where}"
                )
        return self


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})


def _normalise(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    missing = [c for c in ("path", "label", "patient_id") if c not in frame.columns]
    if missing:
        raise DataError(f"dataset {name!r}: manifest lacks column(s) {', '.join(missing)}")
    out = frame.copy()
    if "index" not in out.columns:
        out["index"] = -1
    for col in ("study_id", "body_part", "split"):
        if col not in out.columns:
            out[col] = ""
    out = out[list(COLUMNS) + [c for c in out.columns if c not in COLUMNS]]
    if len(out) == 0:
        return out.reset_index(drop=True)
    out["path"] = out["path"].astype(str)
    out["index"] = out["index"].astype(int)
    for col in ("patient_id", "study_id", "body_part", "split"):
        out[col] = out[col].fillna("").astype(str)
    bad_label = ~out["label"].isin([0, 1, "0", "1"])
    if bad_label.any():
        row = out[bad_label].iloc[0]
        raise DataError(
            f"dataset {name!r}: label must be 0 (normal) or 1 (abnormal), got {row['label']!r} "
            f"for {row['path']}"
        )
    out["label"] = out["label"].astype(int)
    empty_patient = out["patient_id"] == ""
    if empty_patient.any():
        raise DataError(
            f"dataset {name!r}: empty patient_id for {out.loc[empty_patient, 'path'].iloc[0]}"
        )
    no_study = out["study_id"] == ""
    out.loc[no_study, "study_id"] = out.loc[no_study, "patient_id"]
    bad_split = ~out["split"].isin(("", *SPLITS))
    if bad_split.any():
        row = out[bad_split].iloc[0]
        raise DataError(
            f"dataset {name!r}: unknown split {row['split']!r} for {row['path']}; "
            f"valid: {', '.join(SPLITS)}"
        )
    return out.reset_index(drop=True)
