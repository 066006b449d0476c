"""Two-process DDP on the CPU (gloo): the command runs to the end, rank 0 alone writes the run
folder, each process reads its own half of every epoch, and ``--resume`` continues it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import tiny_npz
from medaug.train.monitor import read_training


@pytest.mark.slow
def test_two_process_cpu_ddp_run_completes(tmp_path: Path) -> None:
    npz = tiny_npz(tmp_path / "tiny.npz")
    out = tmp_path / "run"
    env = {**os.environ, "MEDAUG_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "medaug", "pretrain", "--data", f"medmnist:{npz}",
           "--size", "32", "--no-clahe", "--method", "simclr", "--ops", "flip+rotate",
           "--epochs", "2", "--batch-size", "8", "--method-args", "proj_hidden=64,proj_dim=32",
           "--accelerator", "cpu", "--devices", "2", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished"
    assert run["config"]["pretrain"]["devices"] == 2
    metrics = read_training(out)
    # 48 images, 2 processes x batch 8 = 16 per step: 3 steps per epoch
    assert metrics["epoch"].tolist() == [-1, 0, 1]
    assert metrics["step"].tolist() == [0, 3, 6]
    assert (out / "encoder.pt").is_file() and (out / "checkpoints" / "last.ckpt").is_file()
    assert sorted(p.name for p in out.iterdir()) == [  # .lock: the folder's writer lock
        ".lock", "checkpoints", "curves.png", "encoder.json", "encoder.pt", "run.json",
        "run.log", "training.csv"]
    assert (out / "run.log").read_text().count("epoch 0: loss") == 1  # rank 0 alone writes
    # resumed under DDP: both processes continue from the checkpoint to a third epoch
    again = subprocess.run([sys.executable, "-m", "medaug", "pretrain", "--out", str(out),
                            "--resume", "--epochs", "3"], capture_output=True, text=True,
                           env=env, timeout=600, cwd=tmp_path)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    metrics = read_training(out)
    assert metrics["epoch"].tolist() == [-1, 0, 1, 2]
    assert metrics["step"].tolist() == [0, 3, 6, 9]
    assert "epoch 0:" not in again.stdout and "epoch 2:" in again.stdout
