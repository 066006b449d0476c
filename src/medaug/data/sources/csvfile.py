"""CSV manifest: ``path,label[,patient_id,study_id,body_part,split]``.

Paths are absolute or relative to the CSV's folder. Labels are ``0``/``1`` or
``normal``/``abnormal``. A missing ``patient_id`` makes each image its own patient.

An image listed twice (by any spelling of its path) is refused when the two rows disagree on
any column (label, patient, study, body part, split): the message names the image and both
lines. An exact repeat is dropped with a warning naming both lines, so a list concatenated
twice still reads.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from medaug.data.manifest import Manifest
from medaug.errors import DataError

_LABELS = {"0": 0, "1": 1, "normal": 0, "abnormal": 1}


def read_csv_manifest(path: str | Path, name: str | None = None) -> Manifest:
    """Read a CSV manifest (see the module docstring for duplicate rows).

    Raises:
        DataError: missing or empty file, a header without rows, missing columns, a bad label
            (naming the row), image files that do not exist (naming the first ones), or an
            image listed twice with different values (naming it and both lines).

    Warns:
        UserWarning: an exact repeat of a row, which is dropped.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"CSV manifest {path} does not exist")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"CSV manifest {path} is empty (expected a header such as "
                        "path,label and one row per image)") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV ({exc})") from exc
    if len(frame) == 0:
        raise DataError(f"CSV manifest {path} has a header but no rows")
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
    frame = _drop_repeats(frame, path)
    return Manifest(frame, name or path.stem).require_images(path)


def _drop_repeats(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Refuse an image listed twice with different values; drop exact repeats, warning.

    Line numbers count the header as line 1 (one line per row, as the CSV is written).
    """
    dup = frame["path"].duplicated(keep=False)
    if not dup.any():
        return frame
    keep = [True] * len(frame)
    first: dict[str, int] = {}
    for i in dup.to_numpy().nonzero()[0]:
        image = frame["path"].iat[i]
        if image not in first:
            first[image] = i
            continue
        j = first[image]
        differ = [c for c in frame.columns if frame[c].iat[i] != frame[c].iat[j]]
        if differ:
            shown = ", ".join(f"{c} {frame[c].iat[j]!r} vs {frame[c].iat[i]!r}" for c in differ)
            raise DataError(f"{path}: {image} is listed twice with different values, on lines "
                            f"{j + 2} and {i + 2} ({shown})")
        warnings.warn(f"{path}: {image} is listed again on line {i + 2} (same as line "
                      f"{j + 2}); the repeat is dropped", UserWarning, stacklevel=3)
        keep[i] = False
    return frame[keep].reset_index(drop=True)
