"""Compare two outputs of scripts/refactor_evidence.sh (the code before and after a change):
every table cell-by-cell (timing columns left out), the encoders' weights tensor-by-tensor
(bit-equal, same dtype; the file's SHA-256 is printed beside them, but it also depends on the
record name torch's zip archive stores, which differs between saving to a path and through a
buffer, as the store does since the atomic-write change), and the heat maps array-by-array. Prints one line per file and exits 1 when anything differs.

    .venv/bin/python scripts/compare_evidence.py out/evidence-old out/evidence-new
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd

#: Columns that measure the machine, not the result.
TIMING = {"images_per_s", "epoch_s", "seconds"}
#: Per-epoch training rows: the old name, then the new one.
TRAINING = ("metrics.csv", "training.csv")


def table(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    return frame.drop(columns=[c for c in frame.columns if c in TIMING])


def training_rows(folder: Path) -> tuple[Path, pd.DataFrame]:
    for name in reversed(TRAINING):
        path = folder / name
        if path.is_file() and "epoch" in pd.read_csv(path, nrows=0).columns:
            return path, table(path)
    raise FileNotFoundError(f"{folder}: no per-epoch training rows")


def main(old: Path, new: Path) -> int:
    differ = 0

    def report(name: str, same: bool, detail: str = "") -> None:
        nonlocal differ
        differ += not same
        print(f"{'identical' if same else 'DIFFERENT'}  {name}{'  ' + detail if detail else ''}")

    for run in ("knee64-simclr", "demo-simclr"):
        (po, a), (pn, b) = training_rows(old / run), training_rows(new / run)
        report(f"{run}: per-epoch rows ({po.name} -> {pn.name}), timing columns left out",
               a.equals(b[a.columns]) if set(a.columns) <= set(b.columns) else False)
        ha = hashlib.sha256((old / run / "encoder.pt").read_bytes()).hexdigest()
        hb = hashlib.sha256((new / run / "encoder.pt").read_bytes()).hexdigest()
        ta = __import__("torch").load(old / run / "encoder.pt", weights_only=True)
        tb = __import__("torch").load(new / run / "encoder.pt", weights_only=True)
        same = ta.keys() == tb.keys() and all(__import__("torch").equal(ta[k], tb[k]) for k in ta)
        report(f"{run}: encoder.pt weights", same, f"sha256 {ha[:12]} / {hb[:12]}")
    for name in ("metrics.csv", "summary.csv", "comparisons.csv", "predictions.csv"):
        a, b = table(old / "knee64-probe" / name), table(new / "knee64-probe" / name)
        report(f"knee64-probe/{name}", a.equals(b))
    for name in ("images.csv", "faithfulness.csv", "faithfulness_images.csv",
                 "faithfulness_pairs.csv"):
        a, b = table(old / "demo-explain" / name), table(new / "demo-explain" / name)
        report(f"demo-explain/{name}", a.equals(b))
    for name in ("heatmaps.npz", "mean_heat.npz"):
        with np.load(old / "demo-explain" / name) as a, np.load(new / "demo-explain" / name) as b:
            same = sorted(a.files) == sorted(b.files) and all(
                np.array_equal(a[k], b[k]) for k in a.files)
        report(f"demo-explain/{name}", same)
    print(f"{differ} file(s) differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
