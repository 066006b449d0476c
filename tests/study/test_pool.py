"""Several workers from one command (``medaug study run --trials-per-gpu N``, which starts
``medaug study join`` processes): a tiny real study finished by two workers with no trial run
twice; the slots per GPU; the trials-per-hour rate of ``medaug study status``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from killer import tiny_study

from helpers import tiny_npz
from medaug.study.layout import REFERENCES_FILE, TRIALS_FILE
from medaug.study.pool import join_command, worker_slots
from medaug.study.status import trials_per_hour

HERE = Path(__file__).resolve().parent
MEDAUG = [sys.executable, "-m", "medaug"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}


@pytest.mark.slow
def test_two_workers_from_one_command_share_a_tiny_study(tmp_path: Path) -> None:
    npz = tiny_npz(tmp_path / "tiny.npz", n_train=32, n_val=16, n_test=16, size=16)
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(tiny_study(npz, epochs=1)))
    out = tmp_path / "st"
    run = subprocess.run([*MEDAUG, "study", "run", "--config", str(config), "--out", str(out),
                          "--trials-per-gpu", "2"], capture_output=True, text=True,
                         env=_env(), timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "started 2 workers" in run.stdout and "2 workers finished" in run.stdout
    trials = pd.read_csv(out / TRIALS_FILE)
    refs = pd.read_csv(out / REFERENCES_FILE)
    assert len(trials) == 4 and set(trials["state"]) == {"COMPLETE"}
    assert trials["key"].is_unique and refs["key"].is_unique
    finished = []
    for k in (0, 1):
        log = (out / "workers" / f"worker-{k}.log").read_text()
        found = re.search(r"this worker finished (\d+), pruned 0 and failed 0 trials", log)
        assert found, log[-1500:]
        finished.append(int(found.group(1)))
    assert sum(finished) == len(trials) + len(refs)  # every trial ran once, by one worker
    for run_folder in trials["run"]:  # and trained once
        log = (out / run_folder / "run.log").read_text()
        assert sum(" pretraining " in line for line in log.splitlines()) == 1
    again = subprocess.run([*MEDAUG, "study", "join", str(out)], capture_output=True,
                           text=True, env=_env(), timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "this worker finished 0, pruned 0 and failed 0 trials" in again.stdout


def test_bad_trials_per_gpu_is_refused(tmp_path: Path) -> None:
    run = subprocess.run([*MEDAUG, "study", "run", "--out", str(tmp_path / "s"),
                          "--trials-per-gpu", "0"], capture_output=True, text=True,
                         env=_env(), timeout=120)
    assert run.returncode != 0 and "--trials-per-gpu must be at least 1" in run.stderr + run.stdout
    assert not (tmp_path / "s").exists()


def test_join_without_a_study_is_one_line(tmp_path: Path) -> None:
    run = subprocess.run([*MEDAUG, "study", "join", str(tmp_path)], capture_output=True,
                         text=True, env=_env(), timeout=120)
    assert run.returncode != 0
    assert "no study.json (not a study folder" in run.stderr + run.stdout
    assert "Traceback" not in run.stderr


def test_slots_per_gpu() -> None:
    assert worker_slots(3, gpus=0) == [None, None, None]
    assert worker_slots(2, gpus=1) == [None, None]
    assert worker_slots(2, gpus=3) == ["0", "1", "2", "0", "1", "2"]
    command = join_command(Path("s"), "postgresql://h/db", "knee", 5)
    assert command[1:] == ["-m", "medaug", "study", "join", "s", "--storage",
                           "postgresql://h/db", "--name", "knee", "--max-trials", "5"]


def test_trials_per_hour_reads_the_last_hour() -> None:
    assert trials_per_hour([]) is None and trials_per_hour([5.0]) is None
    assert trials_per_hour([0.0, 600.0, 1200.0]) == pytest.approx(6.0)
    # a day-old session before a pause does not dilute the recent rate
    assert trials_per_hour([-86400.0, 0.0, 300.0, 600.0]) == pytest.approx(12.0)


def _joiners(folder: Path) -> list[int]:
    """PIDs of the live ``medaug study join FOLDER`` processes."""
    found = subprocess.run(["pgrep", "-f", f"study join {folder}"], capture_output=True,
                           text=True)
    return [int(p) for p in found.stdout.split()]


@pytest.mark.slow
def test_a_sigterm_to_the_command_stops_its_workers(tmp_path: Path) -> None:
    """A scheduler's or ``timeout``'s SIGTERM reaches the command, not its workers: it stops
    them (no orphan keeps training) and each gives its trial back; the same command again
    finishes the study."""
    import time

    npz = tiny_npz(tmp_path / "tiny.npz", n_train=32, n_val=16, n_test=16, size=16)
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(tiny_study(npz, epochs=3)))
    out = tmp_path / "st"
    command = [*MEDAUG, "study", "run", "--config", str(config), "--out", str(out),
               "--trials-per-gpu", "2"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=_env())
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # until a worker trains
        logs = [p.read_text() for p in (out / "workers").glob("worker-*.log")] \
            if (out / "workers").is_dir() else []
        if any("pretraining " in log for log in logs):
            break
        time.sleep(0.5)
    assert len(_joiners(out)) == 2
    proc.terminate()
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 130, output[-2000:]
    assert "stopping the workers" in output
    assert _joiners(out) == []
    again = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=900)
    assert again.returncode == 0, again.stdout[-2000:]
    trials = pd.read_csv(out / TRIALS_FILE)
    done = trials[trials["state"] == "COMPLETE"]
    assert len(done) == 4 and done["key"].is_unique
    given_back = trials[trials["state"] != "COMPLETE"]  # the stopped trials' own rows
    assert len(given_back) >= 1 and set(given_back["reason"]) == {"interrupted"}
    assert set(given_back["key"]) <= set(done["key"])  # each resumed and finished
