"""Hardened edges of ``medaug pretrain`` from the command line: SIGTERM and Ctrl-C exit
codes of a real process and ``--resume`` after them, ``kill -9``, a run stopped before its
first checkpoint, a planted pickle, a garbage ``run.json``, a folder held by another writer
and an ``--out`` that cannot be written (tiny 16 px images, ``resnet18-small``)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from helpers import tiny_npz
from medaug.cli import app
from medaug.store import LOCK_FILE, RUN_FILE, lock_holder, lock_run_folder, read_run

runner = CliRunner()
FAST = ["--size", "16", "--no-clahe", "--ops", "flip", "--batch-size", "8", "--method-args",
        "proj_hidden=16,proj_dim=8", "--accelerator", "cpu", "--backbone", "resnet18-small",
        "--workers", "0"]
LAST_CKPT = Path("checkpoints") / "last.ckpt"
#: Seconds a child may take to start training (imports, cache build) or to stop.
START_S, STOP_S, RUN_S = 180, 90, 300


def _npz(folder: Path) -> Path:
    npz = folder / "tiny.npz"
    return npz if npz.is_file() else tiny_npz(npz, n_train=16, n_val=8, n_test=8, size=16)


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_error_line(result: Any) -> str:
    """The single ``error:`` line a refused command printed, checking it printed no
    traceback and nothing else on stderr."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, cache_env: None) -> Path:
    """A finished one-epoch run folder made by the CLI (copy it before changing it)."""
    root = tmp_path_factory.mktemp("cli-finished")
    out = root / "run"
    result = runner.invoke(app, ["pretrain", "--data", f"medmnist:{_npz(root)}", "--epochs",
                                 "1", *FAST, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


# -- real processes: SIGTERM, Ctrl-C, kill -9 --


def _medaug(*args: str) -> list[str]:
    return [sys.executable, "-m", "medaug", *args]


def _default_sigint() -> None:  # a child started from a background job may inherit SIG_IGN
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    """``start(*args)`` runs ``python -m medaug *args`` as a real child (its output in
    files, returned by ``output(child)``); every child still alive at the end is killed."""
    children: list[tuple[subprocess.Popen[bytes], Path]] = []

    def launch(*args: str) -> subprocess.Popen[bytes]:
        logs = tmp_path / f"child-{len(children)}"
        with open(f"{logs}.out", "wb") as out, open(f"{logs}.err", "wb") as err:
            child = subprocess.Popen(_medaug(*args), stdout=out, stderr=err,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                     preexec_fn=_default_sigint)
        children.append((child, logs))
        return child

    try:
        yield launch
    finally:
        for child, _ in children:
            if child.poll() is None:
                child.kill()
            child.wait(timeout=30)


def _output(tmp_path: Path, index: int) -> tuple[str, str]:
    logs = tmp_path / f"child-{index}"
    return (Path(f"{logs}.out").read_text(errors="replace"),
            Path(f"{logs}.err").read_text(errors="replace"))


def _trained_epochs(out: Path) -> list[int]:
    try:
        return pd.read_csv(out / "training.csv")["epoch"].astype(int).tolist()
    except (OSError, ValueError, KeyError, pd.errors.ParserError):
        return []


def _wait_for_training(child: subprocess.Popen[bytes], out: Path, tmp_path: Path) -> None:
    """Until the child has written the row of its first epoch (so Lightning's handlers are
    in place and a checkpoint is about to exist)."""
    deadline = time.monotonic() + START_S
    while not any(e >= 0 for e in _trained_epochs(out)):
        if child.poll() is not None:
            pytest.fail(f"the run ended ({child.returncode}) before training: "
                        f"{_output(tmp_path, 0)}")
        if time.monotonic() > deadline:
            pytest.fail("the run did not start training in time")
        time.sleep(0.1)


def _resume_to_the_end(out: Path) -> None:
    """``medaug pretrain --resume --out`` with two epochs more than the rows written: exit 0,
    a finished record and one row per epoch."""
    epochs = max(_trained_epochs(out)) + 2
    resumed = subprocess.run(_medaug("pretrain", "--resume", "--out", str(out), "--epochs",
                                     str(epochs)), capture_output=True, text=True,
                             timeout=RUN_S)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert json.loads((out / RUN_FILE).read_text())["status"] == "finished"
    assert _trained_epochs(out) == list(range(-1, epochs))
    assert lock_holder(out) is None


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code", "reason"), [
    (signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_process_with_its_exit_code_and_resume_finishes_it(
        tmp_path: Path, start: Any, signum: int, code: int, reason: str) -> None:
    """SIGTERM (as a scheduler sends) or SIGINT (Ctrl-C) once training runs: the process
    exits 143 or 130, prints one line saying how to resume, its record says
    ``interrupted``; ``--resume`` then finishes the run with exit 0."""
    out = tmp_path / "run"
    child = start("pretrain", "--data", f"medmnist:{_npz(tmp_path)}", "--epochs", "1000",
                  *FAST, "--out", str(out))
    _wait_for_training(child, out, tmp_path)
    child.send_signal(signum)
    assert child.wait(timeout=STOP_S) == code, _output(tmp_path, 0)
    stdout, stderr = _output(tmp_path, 0)
    assert "Traceback" not in stderr
    hints = [line for line in (stdout + stderr).splitlines() if "--resume --out" in line]
    assert len(hints) == 1 and str(out) in hints[0], stdout + stderr
    record = json.loads((out / RUN_FILE).read_text())
    assert record["status"] == "interrupted" and reason in record["reason"]
    assert lock_holder(out) is None
    _resume_to_the_end(out)


@pytest.mark.slow
def test_kill_9_leaves_a_stale_record_and_resume_finishes_it(tmp_path: Path, start: Any
                                                             ) -> None:
    """``kill -9`` of a running pretrain: its record (still ``running`` on disk) reads as
    ``interrupted`` and stale, the lock is free, and ``--resume`` finishes the run."""
    out = tmp_path / "run"
    child = start("pretrain", "--data", f"medmnist:{_npz(tmp_path)}", "--epochs", "1000",
                  *FAST, "--out", str(out))
    _wait_for_training(child, out, tmp_path)
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=STOP_S) == -signal.SIGKILL
    assert json.loads((out / RUN_FILE).read_text())["status"] == "running"
    assert lock_holder(out) is None
    record = read_run(out)
    assert record is not None and record.status == "interrupted" and record.stale
    _resume_to_the_end(out)


# -- in-process CLI --


class _StopFirstEpoch(L.Callback):
    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        if trainer.current_epoch == 0 and batch_idx == 1:
            raise RuntimeError("simulated crash")


@pytest.mark.slow
def test_resume_of_a_run_stopped_before_its_first_checkpoint_starts_it_again(
        finished: Path, tmp_path: Path) -> None:
    """A run that failed in its first epoch has a record but no checkpoint: ``medaug
    pretrain --resume`` says it starts again from scratch and finishes (exit 0)."""
    from medaug.data.config import prepare_from_dict
    from medaug.train.pretrain import run_pretrain
    from medaug.train.pretrain_config import pretrain_from_dict

    out = tmp_path / "run"
    saved = read_run(finished).config  # crash a run with the settings of ``finished``
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_pretrain(prepare_from_dict(saved), pretrain_from_dict(saved), out,
                     callbacks=[_StopFirstEpoch()], say=None)
    assert read_run(out).status == "failed" and not (out / LAST_CKPT).exists()
    result = runner.invoke(app, ["pretrain", "--resume", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "before its first checkpoint" in result.output
    assert read_run(out).status == "finished" and (out / LAST_CKPT).is_file()
    assert _trained_epochs(out) == [-1, 0]
    same = pd.read_csv(out / "training.csv")["loss"]
    clean = pd.read_csv(finished / "training.csv")["loss"]
    pd.testing.assert_series_equal(same, clean, rtol=1e-5)


class _Plant:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return os.mkdir, (self.marker,)


def test_resume_refuses_a_planted_pickle_with_one_line(finished: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    """A ``checkpoints/last.ckpt`` whose unpickling would run code (and does, loaded
    unsafely): ``--resume`` fails with one line naming it, exit 2, the code never runs,
    even with ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``; the record is untouched."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    out = tmp_path / "run"
    shutil.copytree(finished, out, ignore=shutil.ignore_patterns("*.ckpt"))
    probe = tmp_path / "probe"
    torch.save({"state_dict": {}, "hook": _Plant(probe)}, tmp_path / "probe.ckpt")
    torch.load(tmp_path / "probe.ckpt", weights_only=False)
    assert probe.is_dir(), "the planted pickle does not run code: the test proves nothing"
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {}, "epoch": 0, "hook": _Plant(marker)}, out / LAST_CKPT)
    record = (out / RUN_FILE).read_bytes()
    result = runner.invoke(app, ["pretrain", "--resume", "--out", str(out), "--epochs", "2"])
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert str(out / LAST_CKPT) in line
    assert not marker.exists()
    assert (out / RUN_FILE).read_bytes() == record


@pytest.mark.parametrize("resume", [False, True], ids=["fresh", "resume"])
@pytest.mark.parametrize("garbage", [b"{not json", b"[1, 2]", b'{"status": "finished"}', b""],
                         ids=["not-json", "list", "no-config", "empty"])
def test_a_garbage_run_json_is_one_line_naming_it(tmp_path: Path, garbage: bytes,
                                                  resume: bool) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / RUN_FILE).write_bytes(garbage)
    args = ["--resume"] if resume else ["--data", f"medmnist:{_npz(tmp_path)}", *FAST]
    result = runner.invoke(app, ["pretrain", *args, "--out", str(out)])
    assert result.exit_code == 2
    assert str(out / RUN_FILE) in _one_error_line(result)
    assert (out / RUN_FILE).read_bytes() == garbage


@pytest.mark.parametrize("resume", [False, True], ids=["fresh", "resume"])
def test_a_folder_another_writer_holds_is_one_line_and_unchanged(finished: Path, tmp_path: Path,
                                                                 resume: bool) -> None:
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    with lock_run_folder(out):
        before = _snapshot(out)
        args = ["--resume"] if resume else ["--data", f"medmnist:{_npz(tmp_path)}", *FAST]
        result = runner.invoke(app, ["pretrain", *args, "--out", str(out)])
        line = _one_error_line(result)
        assert result.exit_code == 2
        assert str(out) in line and "another process" in line
        assert _snapshot(out) == before
    assert LOCK_FILE in before


@pytest.mark.parametrize("resume", [False, True], ids=["fresh", "resume"])
def test_an_out_under_a_file_is_one_line(tmp_path: Path, resume: bool) -> None:
    (tmp_path / "file").write_text("keep me\n")
    out = tmp_path / "file" / "run"
    args = ["--resume"] if resume else ["--data", f"medmnist:{_npz(tmp_path)}", *FAST]
    result = runner.invoke(app, ["pretrain", *args, "--out", str(out)])
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert str(out) in line and "cannot write" in line
    assert (tmp_path / "file").read_text() == "keep me\n"


def test_an_out_in_a_read_only_folder_is_one_line(tmp_path: Path, read_only_dir: Path) -> None:
    out = read_only_dir / "run"
    result = runner.invoke(app, ["pretrain", "--data", f"medmnist:{_npz(tmp_path)}", *FAST,
                                 "--out", str(out)])
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert str(out) in line and "cannot write" in line
