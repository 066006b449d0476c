"""CSV manifest: ``path,label[,patient_id,study_id,body_part,split]``.

Paths are absolute or relative to the CSV's folder. Labels are ``0``/``1`` or
``normal``/``abnormal``. A missing ``patient_id`` makes each image its own patient.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from medaug.data.manifest import Manifest
from medaug.errors import DataError

_LABELS = {"0": 0, "1": 1, "normal": 0, "abnormal": 1}


def read_csv_manifest(path: str | Path, name: str | None = None) -> Manifest:
    """Read a CSV manifest.

    Raises:
        DataError: missing file or columns, a bad label (naming the row), or image files that do
            not exist (naming the first ones).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"CSV manifest {path} does not exist")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV ({exc})") from exc
    missing = [c for c in ("path", "label") if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; "
                        f"found {', '.join(frame.columns)}")
    labels = frame["label"].str.strip().str.lower().map(_LABELS)
    if labels.isna().any():
        i = int(labels.isna().to_numpy().nonzero()[0][0])
        raise DataError(f"{path}: row {i + 2}: label must be 0/1 or normal/abnormal, "
                        f"got {frame['label'].iloc[i]!r}")
    frame["label"] = labels.astype(int)
    base = path.parent
    frame["path"] = [str(p if p.is_absolute() else (base / p).resolve())
                     for p in map(Path, frame["path"])]
    exists = frame["path"].map(lambda p: Path(p).is_file())
    if not exists.all():
        gone = frame.loc[~exists, "path"].tolist()
        raise DataError(f"{path}: {len(gone)} listed image(s) do not exist, first: "
                        + ", ".join(gone[:5]))
    if "patient_id" not in frame.columns or (frame["patient_id"] == "").any():
        stems = frame["path"].map(lambda p: Path(p).stem)
        pid = frame.get("patient_id", pd.Series([""] * len(frame)))
        frame["patient_id"] = pid.where(pid != "", stems)
    return Manifest(frame, name or path.stem).require_images(path)
