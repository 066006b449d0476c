"""Study-level predictions: one probability per study, the mean over its images (the MURA
paper's protocol, Rajpurkar et al. 2017, "MURA: Large Dataset for Abnormality Detection in
Musculoskeletal Radiographs")."""

from __future__ import annotations

import pandas as pd


def has_multi_image_studies(frame: pd.DataFrame) -> bool:
    """True when some study of ``frame`` (a ``study_id`` column) has more than one image."""
    return bool(frame["study_id"].duplicated().any())


def study_level(frame: pd.DataFrame) -> pd.DataFrame:
    """Aggregate image rows (``study_id``, ``patient_id``, ``label``, ``prob``) into one row per
    study: the mean probability, the study's label (the maximum over its images: a study with
    an abnormal image is abnormal; MURA labels whole studies, so they agree), its patient and
    its number of images. Rows keep the order in which studies first appear."""
    missing = {"study_id", "patient_id", "label", "prob"} - set(frame.columns)
    if missing:
        raise ValueError(f"study_level needs column(s) {', '.join(sorted(missing))}")
    grouped = frame.groupby("study_id", sort=False)
    out = grouped.agg(patient_id=("patient_id", "first"), label=("label", "max"),
                      prob=("prob", "mean"), images=("prob", "size")).reset_index()
    patients = grouped["patient_id"].nunique()
    if (patients > 1).any():
        bad = patients[patients > 1].index[0]
        raise ValueError(f"study {bad!r} belongs to more than one patient")
    return out
