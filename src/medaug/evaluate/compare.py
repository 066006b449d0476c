"""``medaug compare``: two evaluated models on the same test images — the AUROC difference with
a paired patient-level bootstrap interval and p-value.

Each side is an evaluation folder (of ``medaug probe`` or ``medaug supervised``), optionally
``FOLDER::MODEL`` to pick one of several models in it (default: the first one). The probe is
the logistic one where there is one (else the folder's only probe, ``end-to-end`` for a
supervised run); both sides must hold the same label fraction and seed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from medaug.errors import DataError
from medaug.evaluate.record import EVALUATION_FILE, read_predictions
from medaug.evaluate.scoring import COMPARISON_COLUMNS, compare_pair


@dataclass(frozen=True)
class Side:
    """One side of a comparison: its folder, model, probe and test predictions."""

    folder: Path
    model: str
    probe: str
    test: pd.DataFrame  # prediction rows of the test split at one fraction (all seeds)


def pick(spec: str, probe: str | None, fraction: float) -> Side:
    """The test predictions of ``FOLDER[::MODEL]`` at ``fraction`` (every seed there).

    Raises:
        DataError: no such folder, model, probe or fraction (the message lists what there is).
    """
    folder_text, _, model = spec.partition("::")
    folder = Path(folder_text)
    preds = read_predictions(folder)
    models = list(dict.fromkeys(preds["model"]))
    model = model or models[0]
    if model not in models:
        raise DataError(f"{folder}: no model {model!r}; it holds {', '.join(models)}")
    rows = preds[(preds["model"] == model) & (preds["split"] == "test")]
    probes = list(dict.fromkeys(rows["probe"]))
    chosen = probe or ("logistic" if "logistic" in probes else probes[0])
    if chosen not in probes:
        raise DataError(f"{folder}: {model} has no {chosen!r} probe; it has {', '.join(probes)}")
    rows = rows[(rows["probe"] == chosen) & ((rows["fraction"] - fraction).abs() < 1e-9)]
    if rows.empty:
        have = sorted(set(preds.loc[preds["model"] == model, "fraction"]))
        raise DataError(f"{folder}: {model} was not evaluated at label fraction {fraction:g}; "
                        f"it has {', '.join(f'{f:g}' for f in have)}")
    return Side(folder, model, chosen, rows)


def compare(spec_a: str, spec_b: str, probe: str | None = None, fraction: float = 1.0,
            seed: int | None = None, n_boot: int = 2000, boot_seed: int = 0,
            level: float = 0.95) -> pd.DataFrame:
    """Paired AUROC difference ``a - b`` (:data:`~medaug.evaluate.scoring.COMPARISON_COLUMNS`,
    at image and, where studies have several images, study level) at one label-subset
    ``seed`` both sides hold (default: the smallest they share).

    Raises:
        DataError: a side cannot be found, no shared seed, or the two were not scored on the
            same test images.
    """
    a = pick(spec_a, probe, fraction)
    b = pick(spec_b, probe, fraction)
    fp_a, fp_b = _data_fingerprint(a.folder), _data_fingerprint(b.folder)
    if fp_a and fp_b and fp_a != fp_b:
        raise DataError(f"{a.folder} and {b.folder} were evaluated on different data (data "
                        f"fingerprints {fp_a[:12]} and {fp_b[:12]} in their {EVALUATION_FILE})")
    seeds_a, seeds_b = set(a.test["seed"]), set(b.test["seed"])
    shared = sorted(seeds_a & seeds_b)
    if seed is None and not shared:
        raise DataError(f"{spec_a} (seeds {_list(seeds_a)}) and {spec_b} (seeds "
                        f"{_list(seeds_b)}) share no label-subset seed at fraction {fraction:g}")
    s = shared[0] if seed is None else seed
    for side, have in ((a, seeds_a), (b, seeds_b)):
        if s not in have:
            raise DataError(f"{side.folder}: {side.model} has no seed {s} at fraction "
                            f"{fraction:g}; it has {_list(have)}")
    name_a = f"{a.folder.name}:{a.model}"
    name_b = f"{b.folder.name}:{b.model}"
    try:
        rows = compare_pair(a.test[a.test["seed"] == s], b.test[b.test["seed"] == s], n_boot,
                            boot_seed, level,
                            {"model_a": name_a, "model_b": name_b,
                             "probe": a.probe if a.probe == b.probe else f"{a.probe}/{b.probe}",
                             "fraction": fraction, "seed": s})
    except ValueError as exc:
        raise DataError(f"cannot compare {spec_a} with {spec_b}: {exc}") from exc
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))


def _data_fingerprint(folder: Path) -> str | None:
    path = folder / EVALUATION_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text()).get("data", {}).get("fingerprint")
    except (json.JSONDecodeError, AttributeError):
        return None


def _list(seeds: set[int]) -> str:
    return ", ".join(str(int(v)) for v in sorted(seeds)) or "none"
