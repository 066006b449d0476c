"""The faithfulness statistics of an explanation: per model, ROAD of its heat maps against
random maps on the same test images and the maps' centre of mass, and the paired differences
between models, all with patient-level bootstrap intervals
(:func:`medaug.evaluate.bootstrap.mean_difference`)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from medaug.evaluate.bootstrap import mean_difference
from medaug.explain.config import ExplainConfig

PER_IMAGE_COLUMNS = ("model", "row", "patient_id", "label", "prob", "road_morf", "road_lerf",
                     "road_combined", "random_morf", "random_lerf", "random_combined",
                     "heat_max", "heat_row", "heat_col")
SUMMARY_COLUMNS = ("model", "images", "patients", "road_combined", "road_combined_low",
                   "road_combined_high", "road_morf", "road_lerf", "random_combined",
                   "random_combined_low", "random_combined_high", "vs_random",
                   "vs_random_low", "vs_random_high", "vs_random_p", "empty_maps",
                   "heat_row", "heat_row_low", "heat_row_high", "heat_col", "heat_col_low",
                   "heat_col_high")
PAIR_COLUMNS = ("model_a", "model_b", "score", "a", "b", "difference", "low", "high", "p")


def summarise_faithfulness(per_image: pd.DataFrame, config: ExplainConfig) -> pd.DataFrame:
    """Per model: mean ROAD of its maps and of random maps with patient-level intervals, the
    paired difference between the two, and how many maps were empty (no positive evidence
    for the target anywhere: Grad-CAM's ReLU left nothing, so the ranking is the random
    tie-break)."""
    out = []
    for name, part in per_image.groupby("model", sort=False):
        groups = part["patient_id"].to_numpy()
        zeros = np.zeros(len(part))

        def boot(a: np.ndarray, b: np.ndarray, groups: np.ndarray = groups) -> Any:
            return mean_difference(a, b, groups, n_boot=config.bootstrap, seed=config.seed,
                                   level=config.ci)

        own = boot(part["road_combined"].to_numpy(), zeros)
        rand = boot(part["random_combined"].to_numpy(), zeros)
        versus = boot(part["road_combined"].to_numpy(), part["random_combined"].to_numpy())
        out.append({
            "model": name, "images": len(part), "patients": len(np.unique(groups)),
            "road_combined": own.a, "road_combined_low": own.low,
            "road_combined_high": own.high, "road_morf": part["road_morf"].mean(),
            "road_lerf": part["road_lerf"].mean(), "random_combined": rand.a,
            "random_combined_low": rand.low, "random_combined_high": rand.high,
            "vs_random": versus.difference, "vs_random_low": versus.low,
            "vs_random_high": versus.high, "vs_random_p": versus.p_value,
            "empty_maps": int((part["heat_max"] <= 0).sum()),
            **_centre(part, boot)})
    return pd.DataFrame(out, columns=list(SUMMARY_COLUMNS))


def _centre(part: pd.DataFrame, boot: Callable[..., Any]) -> dict[str, float]:
    """Mean centre of mass (row, column) of the non-empty maps, with intervals."""
    out: dict[str, float] = {}
    for key in ("heat_row", "heat_col"):
        values = part[key].to_numpy(dtype=np.float64)
        ok = ~np.isnan(values)
        if ok.any():
            d = boot(values[ok], np.zeros(int(ok.sum())), part["patient_id"].to_numpy()[ok])
            out.update({key: d.a, f"{key}_low": d.low, f"{key}_high": d.high})
        else:
            out.update({key: np.nan, f"{key}_low": np.nan, f"{key}_high": np.nan})
    return out


def pair_differences(per_image: pd.DataFrame, config: ExplainConfig) -> pd.DataFrame:
    """For every pair of models: the paired difference (a - b) of mean ROAD combined on the
    same images, with its patient-level interval and p-value."""
    names = list(dict.fromkeys(per_image["model"]))
    out = []
    for a, b in itertools.combinations(names, 2):
        pa = per_image[per_image["model"] == a].set_index("row")
        pb = per_image[per_image["model"] == b].set_index("row").loc[pa.index]
        d = mean_difference(pa["road_combined"].to_numpy(), pb["road_combined"].to_numpy(),
                            pa["patient_id"].to_numpy(), n_boot=config.bootstrap,
                            seed=config.seed, level=config.ci)
        out.append({"model_a": a, "model_b": b, "score": "road_combined", "a": d.a, "b": d.b,
                    "difference": d.difference, "low": d.low, "high": d.high,
                    "p": d.p_value})
    return pd.DataFrame(out, columns=list(PAIR_COLUMNS))
