"""Markdown table of one `medaug probe` folder over pretraining runs: per run its method,
positives, epochs, pretraining time (sum of epoch_s in training.csv), last embedding spread,
collapse warnings, test AUROC of the logistic probe (100 % labels, image level) with its
interval, and the paired AUROC difference against the random-init twin of the same seed
(patient bootstrap interval, p). Every number is read from the folder and the runs' files.

    .venv/bin/python scripts/methods_table.py runs/methods-knee64-probe
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd


def main(folder: Path) -> None:
    record = json.loads((folder / "evaluation.json").read_text())
    metrics = pd.read_csv(folder / "metrics.csv")
    comps = pd.read_csv(folder / "comparisons.csv")
    pick = (metrics["probe"] == "logistic") & (metrics["fraction"] == 1.0) \
        & (metrics["metric"] == "auroc") & (metrics["level"] == "image")
    auroc = metrics[pick].set_index("model")
    vs = comps[(comps["probe"] == "logistic") & (comps["fraction"] == 1.0)
               & (comps["metric"] == "auroc") & (comps["level"] == "image")
               & comps["model_b"].str.startswith("random-init")].set_index("model_a")
    print(f"Data {record['data'].get('name')}: test images {record['data']['images']['test']}; "
          f"logistic probe on 100 % of the train labels, C and threshold on val; image-level "
          f"test AUROC, 95 % patient-bootstrap intervals.\n")
    print("| run | method | positives | epochs | pretrain s | last spread | collapse warnings "
          "| AUROC [95 % CI] | random twin | difference [95 % CI] | p |")
    print("|---|---|---|---:|---:|---:|---:|---|---:|---|---:|")
    for name, model in record["models"].items():
        if model.get("kind") == "random-init":
            continue
        config = (model.get("run_config") or {}).get("pretrain", {})
        training = Path(model["folder"]) / "training.csv"
        rows = pd.read_csv(training) if training.is_file() else pd.DataFrame()
        trained = rows[rows["epoch"] >= 0] if len(rows) else rows
        seconds = float(trained["epoch_s"].sum()) if len(trained) else float("nan")
        spread = float(trained["emb_spread"].iloc[-1]) if len(trained) else float("nan")
        warnings = int(trained["collapse_warning"].astype(bool).sum()) if len(trained) else 0
        a = auroc.loc[name] if name in auroc.index else None
        d = vs.loc[name] if name in vs.index else None
        cell = (f"{a['value']:.3f} [{a['ci_low']:.3f}, {a['ci_high']:.3f}]"
                if a is not None else "n/a")
        diff = (f"{d['difference']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"
                if d is not None else "n/a")
        print(f"| {name} | {config.get('method')} | {config.get('positives', 'image')} | "
              f"{len(trained)} | {seconds:.0f} | {spread:.3f} | {warnings} | {cell} | "
              f"{d['value_b']:.3f} | {diff} | {d['p_value']:.3f} |" if d is not None else
              f"| {name} | {config.get('method')} | {config.get('positives', 'image')} | "
              f"{len(trained)} | {seconds:.0f} | {spread:.3f} | {warnings} | {cell} | n/a | "
              f"{diff} | n/a |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
