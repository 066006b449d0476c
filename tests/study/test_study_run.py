"""A tiny real study end to end (two combinations, two methods, tiny synthetic images), its
report, and a worker killed with SIGKILL mid-trial then the same command again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from killer import tiny_study

from helpers import tiny_npz
from medaug.study.layout import REFERENCES_FILE, REPORT_DIR, REPORT_FILE, TRIALS_FILE

HERE = Path(__file__).resolve().parent
MEDAUG = [sys.executable, "-m", "medaug"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}


@pytest.fixture(scope="module")
def npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_npz(tmp_path_factory.mktemp("data") / "tiny.npz", n_train=32, n_val=16,
                    n_test=16, size=16)


def _pretrain_starts(run: Path) -> int:
    log = (run / "run.log").read_text()
    return sum(1 for line in log.splitlines() if " pretraining " in line)


def _epoch_lines(run: Path, epoch: int) -> int:
    log = (run / "run.log").read_text()
    return sum(1 for line in log.splitlines() if f" epoch {epoch}: loss" in line)


@pytest.mark.slow
def test_a_tiny_study_end_to_end_with_its_report(tmp_path: Path, npz: Path) -> None:
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(tiny_study(npz, epochs=1)))
    out = tmp_path / "st"
    run = subprocess.run([*MEDAUG, "study", "run", "--config", str(config), "--out", str(out)],
                         capture_output=True, text=True, env=_env(), timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    trials = pd.read_csv(out / TRIALS_FILE)
    assert len(trials) == 4 and set(trials["state"]) == {"COMPLETE"}
    assert set(trials["method"]) == {"simclr", "byol"}
    assert set(trials["combo"]) == {"flip", "flip+blur"}
    for col in ("val_auroc", "test_auroc", "test_auroc_lo", "test_auroc_hi", "diff_vs_random",
                "diff_lo", "diff_hi", "seconds"):
        assert trials[col].notna().all(), col
    assert (trials["test_auroc_lo"] <= trials["test_auroc"]).all()
    assert (trials["diff_lo"] <= trials["diff_vs_random"]).all()
    assert (trials["diff_vs_random"] - (trials["test_auroc"] - trials["random_test_auroc"])
            ).abs().max() < 1e-9
    for folder in trials["run"]:  # each trial's run folder is an ordinary pretraining run
        record = json.loads((out / folder / "run.json").read_text())
        assert record["status"] == "finished"
        assert (out / folder / "encoder.pt").is_file()
    refs = pd.read_csv(out / REFERENCES_FILE)
    assert list(refs["kind"]) == ["random"] and refs["test_auroc"].notna().all()
    status = subprocess.run([*MEDAUG, "study", "status", str(out)], capture_output=True,
                            text=True, env=_env(), timeout=300)
    assert status.returncode == 0 and "simclr" in status.stdout and "done" in status.stdout
    report = subprocess.run([*MEDAUG, "study", "report", str(out)], capture_output=True,
                            text=True, env=_env(), timeout=600)
    assert report.returncode == 0, report.stderr[-2000:]
    html = (out / REPORT_FILE).read_text()
    for text in ("1. The answer", "simclr", "byol", "flip+blur", "<table"):
        assert text in html, text
    pngs = sorted((out / REPORT_DIR).glob("*.png"))
    assert {"heatmap_simclr.png", "heatmap_byol.png", "compute.png"} <= {p.name for p in pngs}
    assert html.count("data:image/png;base64,") >= len(pngs)
    assert list((out / "followup" / "gradcam").glob("*.png"))  # Grad-CAM through explain


@pytest.mark.slow
def test_a_killed_worker_resumes_and_retrains_nothing_finished(tmp_path: Path,
                                                               npz: Path) -> None:
    out = tmp_path / "st"
    # epochs 2 per trial: the 4th epoch is the 2nd trial's last, after its first checkpoint
    killed = subprocess.run([sys.executable, str(HERE / "killer.py"), str(out), str(npz), "4"],
                            env=_env(), timeout=600, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    runs = sorted((out / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
    assert len(runs) == 2
    first, second = runs
    assert json.loads((first / "run.json").read_text())["status"] == "finished"
    first_weights = (first / "encoder.pt").stat().st_mtime_ns
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(tiny_study(npz)))
    again = subprocess.run([*MEDAUG, "study", "run", "--config", str(config), "--out", str(out)],
                           capture_output=True, text=True, env=_env(), timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    trials = pd.read_csv(out / TRIALS_FILE)
    done = trials[trials["state"] == "COMPLETE"]
    assert len(done) == 4 and done["key"].is_unique
    assert (trials["state"] == "FAIL").sum() == 1  # the killed one, taken over
    assert _pretrain_starts(first) == 1  # finished trial: never trained again
    assert (first / "encoder.pt").stat().st_mtime_ns == first_weights
    assert _pretrain_starts(second) == 2  # the killed trial started again ...
    assert _epoch_lines(second, 0) == 1  # ... from its checkpoint: epoch 0 was not retrained
    # the epoch it died in: logged before the kill (its checkpoint never written), run again
    assert _epoch_lines(second, 1) == 2
    for run in (out / "runs").iterdir():
        assert json.loads((run / "run.json").read_text())["status"] == "finished"
