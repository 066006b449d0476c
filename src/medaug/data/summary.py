"""What a dataset holds: images, patients and studies per split, class and body part."""

from __future__ import annotations

import pandas as pd
from rich.table import Table

from medaug.data.manifest import CLASS_NAMES, SPLITS, Manifest


def summary_frame(manifest: Manifest) -> pd.DataFrame:
    """One row per (split, body part, class): images, patients, studies."""
    frame = manifest.frame.assign(
        split=manifest.frame["split"].replace("", "unassigned"),
        body_part=manifest.frame["body_part"].replace("", "-"),
        cls=manifest.frame["label"].map(CLASS_NAMES),
    )
    out = frame.groupby(["split", "body_part", "cls"]).agg(
        images=("path", "size"), patients=("patient_id", "nunique"),
        studies=("study_id", "nunique")).reset_index()
    order = {s: i for i, s in enumerate((*SPLITS, "unassigned"))}
    return out.sort_values(["split", "body_part", "cls"], key=lambda c: c.map(order)
                           if c.name == "split" else c).reset_index(drop=True)


def imbalance(manifest: Manifest) -> dict[str, float]:
    """Majority / minority image count per split (``inf`` when a class is absent)."""
    out = {}
    for split, part in manifest.frame.groupby("split"):
        counts = part["label"].value_counts()
        lo, hi = counts.reindex([0, 1], fill_value=0).min(), counts.max()
        out[split or "unassigned"] = float(hi / lo) if lo else float("inf")
    return out


def summary_table(manifest: Manifest) -> Table:
    """A rich table of :func:`summary_frame` with totals and imbalance ratios."""
    table = Table(title=f"{manifest.name}: {len(manifest)} images, "
                  f"{manifest.frame['patient_id'].nunique()} patients, "
                  f"{manifest.frame['study_id'].nunique()} studies")
    for col in ("split", "body part", "class", "images", "patients", "studies"):
        table.add_column(col, justify="right" if col in ("images", "patients", "studies")
                         else "left")
    for row in summary_frame(manifest).itertuples():
        table.add_row(row.split, row.body_part, row.cls, str(row.images), str(row.patients),
                      str(row.studies))
    ratios = imbalance(manifest)
    table.caption = "imbalance (majority/minority images): " + ", ".join(
        f"{k} {v:.2f}" for k, v in sorted(ratios.items(), key=lambda kv: _order(kv[0])))
    return table


def _order(split: str) -> int:
    return SPLITS.index(split) if split in SPLITS else len(SPLITS)
