"""Per body part: where a dataset holds several (MURA's seven), every model's test AUROC on
each part's images with its patient-level interval (``body_parts.csv`` of an evaluation)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medaug.evaluate.bootstrap import bootstrap_metrics

BODY_PARTS_FILE = "body_parts.csv"
COLUMNS = ("model", "probe", "fraction", "seed", "body_part", "auroc", "ci_low", "ci_high",
           "n", "n_patients")


def body_part_table(predictions: pd.DataFrame, parts: np.ndarray, n_boot: int = 1000,
                    seed: int = 0, level: float = 0.95) -> pd.DataFrame | None:
    """Test AUROC per model, probe, label fraction, subset seed and body part.

    Args:
        predictions: prediction rows (:data:`medaug.evaluate.scoring.PREDICTION_COLUMNS`).
        parts: ``(N,)`` the body part of every cache row (``row`` indexes it).

    Returns:
        The table (:data:`COLUMNS`), or ``None`` when the data holds one body part or none.
    """
    names = pd.Series(parts).astype(str)
    if names.replace("", np.nan).dropna().nunique() < 2:
        return None
    test = predictions[predictions["split"] == "test"].copy()
    test["body_part"] = names.to_numpy()[test["row"].to_numpy()]
    rows = []
    keys = ["model", "probe", "fraction", "seed", "body_part"]
    for values, g in test.groupby(keys, sort=True):
        y = g["label"].to_numpy().astype(int)
        if len(set(y)) < 2:
            continue
        iv = bootstrap_metrics(y, g["prob"].to_numpy(), g["patient_id"].to_numpy(), 0.5,
                               n_boot, seed, level)["auroc"]
        rows.append({**dict(zip(keys, values, strict=True)), "auroc": iv.value,
                     "ci_low": iv.low, "ci_high": iv.high, "n": len(g),
                     "n_patients": g["patient_id"].nunique()})
    return pd.DataFrame(rows, columns=list(COLUMNS))
