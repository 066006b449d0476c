"""The console tables: one seed shows its interval, several show mean ± sd; comparisons over
several seeds say in how many the interval lies above or below 0."""

from __future__ import annotations

import io

import pandas as pd
from rich.console import Console

from medaug.evaluate.report import print_comparisons, print_summary
from medaug.evaluate.scoring import COMPARISON_COLUMNS


def _console() -> Console:
    return Console(record=True, width=260, file=io.StringIO())


def test_summary_cells() -> None:
    rows = []
    for fraction, seeds, sd in ((0.1, 3, 0.02), (1.0, 1, float("nan"))):
        row = {"model": "m", "probe": "logistic", "fraction": fraction, "level": "image",
               "seeds": seeds, "threshold": 0.42}
        for name in ("auroc", "balanced_accuracy", "sensitivity", "specificity", "kappa"):
            row |= {name: 0.8, f"{name}_sd": sd, f"{name}_low": 0.75, f"{name}_high": 0.85}
        rows.append(row)
    console = _console()
    print_summary(console, pd.DataFrame(rows), title="t")
    text = console.export_text()
    assert "0.800 ± 0.020" in text
    assert "0.800 [0.750, 0.850]" in text
    assert "10%" in text and "100%" in text and "0.420" in text


def test_comparisons_count_seeds_by_direction() -> None:
    base = {"model_a": "a", "model_b": "b", "probe": "logistic", "level": "image",
            "metric": "auroc", "value_a": 0.8, "value_b": 0.7, "replicates": 1000, "n": 50,
            "n_patients": 40}
    rows = [base | {"fraction": 0.1, "seed": s, "difference": d, "ci_low": lo, "ci_high": hi,
                    "p_value": p}
            for s, (d, lo, hi, p) in enumerate(((0.1, 0.05, 0.15, 0.001),
                                                (0.05, -0.01, 0.1, 0.2),
                                                (-0.1, -0.15, -0.02, 0.01)))]
    rows.append(base | {"fraction": 1.0, "seed": 0, "difference": 0.1, "ci_low": 0.04,
                        "ci_high": 0.16, "p_value": 0.0004})
    console = _console()
    print_comparisons(console, pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS)))
    text = console.export_text()
    assert "a>b 1, a<b 1 of 3" in text
    assert "0.100 [0.040, 0.160]" in text and "4.0e-04" in text


def test_no_comparisons_prints_nothing() -> None:
    console = _console()
    print_comparisons(console, pd.DataFrame(columns=list(COMPARISON_COLUMNS)))
    assert console.export_text() == ""
