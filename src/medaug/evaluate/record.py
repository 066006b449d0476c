"""An evaluation folder: what ``medaug probe``, ``medaug supervised`` and ``medaug compare``
leave behind, every table written through a temporary file renamed into place::

    evaluation.json    config, data fingerprint, each model's weights fingerprint and origin,
                       the probe's settings, the index of the saved probes, provenance
                       (versions, time, host, pid)
    probes/<model>.npz the logistic probe on all training labels (no pickle:
                       :func:`medaug.store.save_probe`), with its validation threshold
    predictions.csv    every val and test probability (scoring.PREDICTION_COLUMNS)
    metrics.csv        every metric with its bootstrap interval (scoring.METRIC_COLUMNS)
    summary.csv        mean and sd over seeds per model, probe, label fraction and level
    comparisons.csv    paired AUROC differences with intervals and p-values
    body_parts.csv     where the data holds several body parts: test AUROC per part
                       (:mod:`medaug.evaluate.body_parts`)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from medaug.errors import DataError
from medaug.evaluate.scoring import PREDICTION_COLUMNS
from medaug.store import provenance, write_json

EVALUATION_FILE = "evaluation.json"
PREDICTIONS_FILE = "predictions.csv"
METRICS_FILE = "metrics.csv"
SUMMARY_FILE = "summary.csv"
COMPARISONS_FILE = "comparisons.csv"


def write_record(folder: Path, record: dict[str, Any]) -> Path:
    """Write ``evaluation.json`` with the provenance block of every record added
    (:func:`medaug.store.provenance`: versions, time, host, pid)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / EVALUATION_FILE
    write_json(path, {**record, **provenance()})
    return path


def read_predictions(folder: Path) -> pd.DataFrame:
    """The prediction table of an evaluation folder.

    Raises:
        DataError: no ``predictions.csv`` there, or one without the expected columns.
    """
    path = Path(folder) / PREDICTIONS_FILE
    if not path.is_file():
        raise DataError(f"{folder}: no {PREDICTIONS_FILE} (run `medaug probe` or `medaug "
                        "supervised` with --out there first)")
    frame = pd.read_csv(path, dtype={"patient_id": str, "study_id": str, "model": str,
                                     "probe": str, "split": str}, keep_default_na=False)
    missing = [c for c in PREDICTION_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    return frame
