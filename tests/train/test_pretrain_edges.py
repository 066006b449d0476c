"""Hardened edges of a pretraining run folder, in-process: two writers into one folder, the
lock dying with its process, a run stopped before its first checkpoint, a planted pickle,
a garbage ``run.json`` and a folder that cannot be written (tiny 16 px images,
``resnet18-small``, no workers)."""

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
import numpy as np
import pandas as pd
import pytest
import torch

from helpers import tiny_npz
from medaug.data.config import DataConfig, PrepareConfig
from medaug.data.preprocess import PreprocessConfig
from medaug.errors import TrainingError
from medaug.store import (
    LOCK_FILE,
    RUN_FILE,
    Interrupted,
    load_checkpoint,
    lock_holder,
    lock_run_folder,
    read_run,
)
from medaug.train.pretrain import CKPT_DIR, LAST_CKPT, run_pretrain
from medaug.train.pretrain_config import PretrainConfig

#: A child process that holds ``argv[1]``'s run-folder lock until it is killed.
HOLD_LOCK = ("import sys, time\n"
             "from medaug.store import lock_run_folder\n"
             "with lock_run_folder(sys.argv[1]):\n"
             "    time.sleep(600)\n")


def _data(folder: Path) -> PrepareConfig:
    npz = folder / "tiny.npz"
    if not npz.is_file():
        tiny_npz(npz, n_train=16, n_val=8, n_test=8, size=16)
    return PrepareConfig(DataConfig(f"medmnist:{npz}"), PreprocessConfig(size=16, clahe=False))


def _config(**kwargs: Any) -> PretrainConfig:
    base: dict[str, Any] = {"ops": "flip", "epochs": 1, "batch_size": 8, "accelerator": "cpu",
                            "backbone": "resnet18-small", "workers": 0,
                            "method_args": "proj_hidden=16,proj_dim=8"}
    return PretrainConfig(**{**base, **kwargs})


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) and the SHA-256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text.strip() and "\n" not in text, f"not one line: {text!r}"
    assert "Traceback" not in text
    return text


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, cache_env: None) -> tuple[Path, Path]:
    """A finished one-epoch run folder and the folder holding its data (copy the run before
    changing it)."""
    root = tmp_path_factory.mktemp("finished")
    run_pretrain(_data(root), _config(), root / "run", say=None)
    return root / "run", root


def _copy_run(finished: tuple[Path, Path], to: Path) -> Path:
    shutil.copytree(finished[0], to)
    return to


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[Any]:
    """Start a child process that holds a folder's lock: ``holder(folder)`` returns the
    child once ``lock_holder`` names it; every child is SIGKILLed at the end."""
    children: list[subprocess.Popen[bytes]] = []

    def start(folder: Path) -> subprocess.Popen[bytes]:
        child = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(folder)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        children.append(child)
        deadline = time.monotonic() + 120
        while lock_holder(folder) != child.pid:
            if child.poll() is not None:
                pytest.fail(f"the lock holder died: {child.stderr.read().decode()}")
            if time.monotonic() > deadline:
                pytest.fail("the child never took the lock")
            time.sleep(0.05)
        return child

    try:
        yield start
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait(timeout=30)
            if child.stderr is not None:
                child.stderr.close()


# -- 1. two writers into one --out --


@pytest.mark.parametrize("resume", [False, True])
def test_a_second_writer_is_refused_and_changes_nothing(finished: tuple[Path, Path],
                                                        tmp_path: Path, holder: Any,
                                                        resume: bool) -> None:
    """While another process holds a run folder's lock, ``run_pretrain`` into it (fresh or
    ``resume``) is refused with one line naming the folder and the holder's pid, and no file
    in the folder changes (not even ``.lock``)."""
    out = _copy_run(finished, tmp_path / "run")
    child = holder(out)
    before = _snapshot(out)
    assert LOCK_FILE in before
    with pytest.raises(TrainingError) as refused:
        run_pretrain(_data(finished[1]), _config(epochs=2), out, resume=resume, say=None)
    message = _one_line(refused.value)
    assert str(out) in message and "another process" in message
    assert f"pid {child.pid}" in message
    assert _snapshot(out) == before
    assert child.poll() is None and lock_holder(out) == child.pid  # still the holder's


def test_a_lock_held_through_another_descriptor_of_this_process_refuses_too(
        tmp_path: Path) -> None:
    """flock is per open file description: a lock this process holds (its own ``with
    lock_run_folder``) still refuses a run into the folder, and is free once released."""
    out = tmp_path / "run"
    with lock_run_folder(out):
        assert lock_holder(out) == os.getpid()
        before = _snapshot(out)
        with pytest.raises(TrainingError, match="another process") as refused:
            run_pretrain(_data(tmp_path), _config(), out, say=None)
        assert str(out) in _one_line(refused.value)
        assert _snapshot(out) == before
        with pytest.raises(TrainingError, match="another process"), lock_run_folder(out):
            pass
    assert lock_holder(out) is None


@pytest.mark.slow
def test_the_lock_dies_with_its_process(finished: tuple[Path, Path], tmp_path: Path,
                                        holder: Any) -> None:
    """SIGKILL the process holding the lock: the lock is free at once, a ``running``
    record reads as a stale ``interrupted`` one, and a new run can start in the folder."""
    out = _copy_run(finished, tmp_path / "run")
    record = json.loads((out / RUN_FILE).read_text())
    (out / RUN_FILE).write_text(json.dumps({**record, "status": "running"}))
    child = holder(out)
    alive = read_run(out)
    assert alive is not None and (alive.status, alive.stale) == ("running", False)
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    assert lock_holder(out) is None
    dead = read_run(out)
    assert dead is not None and (dead.status, dead.stale) == ("interrupted", True)
    # a fresh run in a folder that only holds the dead process's lock file
    fresh = tmp_path / "fresh"
    holder(fresh).kill()
    deadline = time.monotonic() + 30
    while lock_holder(fresh) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lock_holder(fresh) is None
    run_pretrain(_data(finished[1]), _config(), fresh, say=None)
    assert json.loads((fresh / RUN_FILE).read_text())["status"] == "finished"
    assert lock_holder(fresh) is None  # released when the run returned


# -- 4. a run stopped before its first checkpoint --


class CrashFirstEpoch(L.Callback):
    """Stop in epoch 0 (its second batch), before any checkpoint: ``error`` raised."""

    def __init__(self, error: type[BaseException]) -> None:
        self.error = error

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        if trainer.current_epoch == 0 and batch_idx == 1:
            raise self.error("simulated stop")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["failed", "interrupted", "killed"])
def test_a_run_stopped_before_its_first_checkpoint_restarts_from_scratch(
        finished: tuple[Path, Path], tmp_path: Path, how: str) -> None:
    """A run that crashed (``failed``), was stopped by Ctrl-C (``interrupted``) or killed
    (``running`` with nobody holding the lock) before its first checkpoint: ``resume``
    says so, starts it again and ends with the same rows as a run never stopped."""
    data = _data(finished[1])
    config = _config()  # the settings of the never-stopped ``finished`` run
    out = tmp_path / "run"
    handler = signal.getsignal(signal.SIGINT)  # Lightning ignores Ctrl-C while it shuts down
    try:
        with pytest.raises(Interrupted if how == "interrupted" else RuntimeError):
            run_pretrain(data, config, out, callbacks=[CrashFirstEpoch(
                KeyboardInterrupt if how == "interrupted" else RuntimeError)], say=None)
    finally:
        signal.signal(signal.SIGINT, handler)
    assert not (out / CKPT_DIR / LAST_CKPT).exists()
    record = json.loads((out / RUN_FILE).read_text())
    assert record["status"] == ("interrupted" if how == "interrupted" else "failed")
    if how == "killed":
        (out / RUN_FILE).write_text(json.dumps({**record, "status": "running"}))
        assert read_run(out).stale
    lines: list[str] = []
    resumed = run_pretrain(data, config, out, resume=True, say=lines.append)
    assert any("before its first checkpoint" in line and "from scratch" in line
               for line in lines), lines
    assert json.loads((out / RUN_FILE).read_text())["status"] == "finished"
    assert (out / CKPT_DIR / LAST_CKPT).is_file()
    rows, clean = (pd.read_csv(folder / "training.csv") for folder in (out, finished[0]))
    assert rows["epoch"].tolist() == clean["epoch"].tolist() == [-1, 0]
    np.testing.assert_allclose(rows["loss"], clean["loss"], rtol=1e-5)
    np.testing.assert_allclose(rows["knn_acc"], clean["knn_acc"])
    assert resumed.folder == out


# -- 5. a planted pickle --


class Plant:
    """Unpickling this runs ``os.mkdir(marker)``."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return os.mkdir, (self.marker,)


def plant_checkpoint(path: Path, marker: Path) -> Path:
    """Write at ``path`` a checkpoint-looking file whose unpickling would make ``marker``;
    check that loading it unsafely really does, then remove the marker again."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {}, "epoch": 0, "hook": Plant(marker)}, path)
    probe = marker.with_name(marker.name + "-probe")
    torch.save({"state_dict": {}, "hook": Plant(probe)}, path.with_name("probe.ckpt"))
    torch.load(path.with_name("probe.ckpt"), weights_only=False)
    assert probe.is_dir(), "the planted pickle does not run code: the test proves nothing"
    probe.rmdir()
    path.with_name("probe.ckpt").unlink()
    return path


def test_load_checkpoint_refuses_a_planted_pickle(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (which makes every ``torch.load`` that
    does not pass ``weights_only`` unsafe), ``load_checkpoint`` still refuses the file with
    one line naming it, and the planted code never runs."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    ckpt = plant_checkpoint(tmp_path / "last.ckpt", marker)
    with pytest.raises(TrainingError) as refused:
        load_checkpoint(ckpt)
    message = _one_line(refused.value)
    assert str(ckpt) in message and "unsafe" in message
    assert not marker.exists()


@pytest.mark.parametrize("content", ["list", "torn", "text"])
def test_load_checkpoint_refuses_other_files_with_one_line(finished: tuple[Path, Path],
                                                           tmp_path: Path, content: str
                                                           ) -> None:
    path = tmp_path / "last.ckpt"
    if content == "list":
        torch.save([1, 2, 3], path)
    elif content == "torn":
        real = (finished[0] / CKPT_DIR / LAST_CKPT).read_bytes()
        path.write_bytes(real[: len(real) // 2])
    else:
        path.write_text("not a checkpoint\n")
    with pytest.raises(TrainingError) as refused:
        load_checkpoint(path)
    assert str(path) in _one_line(refused.value)


def test_load_checkpoint_reads_a_real_one(finished: tuple[Path, Path],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    state = load_checkpoint(finished[0] / CKPT_DIR / LAST_CKPT)
    assert state["epoch"] == 0 and state["state_dict"]


def test_resume_refuses_a_planted_checkpoint_and_changes_nothing(
        finished: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    out = _copy_run(finished, tmp_path / "run")
    marker = tmp_path / "pwned"
    plant_checkpoint(out / CKPT_DIR / LAST_CKPT, marker)
    before = _snapshot(out)
    with pytest.raises(TrainingError) as refused:
        run_pretrain(_data(finished[1]), _config(epochs=2), out, resume=True, say=None)
    assert str(out / CKPT_DIR / LAST_CKPT) in _one_line(refused.value)
    assert not marker.exists()
    after = _snapshot(out)
    assert {k: v for k, v in after.items() if k != LOCK_FILE} == \
        {k: v for k, v in before.items() if k != LOCK_FILE}
    assert read_run(out).status == "finished"


# -- 6. a garbage run.json --

GARBAGE = {"torn": b'{"status": "runn', "not json": b"{not json", "a list": b"[1, 2]",
           "no config": b'{"status": "finished"}', "empty": b"", "binary": b"\xff\xfe\x00"}


@pytest.mark.parametrize("resume", [False, True])
@pytest.mark.parametrize("garbage", GARBAGE.values(), ids=GARBAGE.keys())
def test_a_garbage_run_record_is_one_line_naming_it(tmp_path: Path, garbage: bytes,
                                                    resume: bool) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / RUN_FILE).write_bytes(garbage)
    with pytest.raises(TrainingError) as refused:
        run_pretrain(_data(tmp_path), _config(), out, resume=resume, say=None)
    assert str(out / RUN_FILE) in _one_line(refused.value)
    assert (out / RUN_FILE).read_bytes() == garbage
    assert sorted(p.name for p in out.iterdir()) == sorted([RUN_FILE, LOCK_FILE])
    with pytest.raises(TrainingError, match=RUN_FILE):
        read_run(out)


# -- 7. a folder that cannot be written --


@pytest.mark.parametrize("where", ["under a file", "at a file"])
def test_an_out_that_is_or_is_under_a_file_is_one_line(tmp_path: Path, where: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("keep me\n")
    out = blocker / "run" if where == "under a file" else blocker
    for resume in (False, True):
        with pytest.raises(TrainingError) as refused:
            run_pretrain(_data(tmp_path), _config(), out, resume=resume, say=None)
        message = _one_line(refused.value)
        assert str(out) in message and "cannot write" in message and "--out" in message
    assert blocker.read_text() == "keep me\n"


def test_an_out_in_a_read_only_folder_is_one_line(tmp_path: Path, read_only_dir: Path) -> None:
    out = read_only_dir / "run"
    with pytest.raises(TrainingError) as refused:
        run_pretrain(_data(tmp_path), _config(), out, say=None)
    message = _one_line(refused.value)
    assert str(out) in message and "cannot write" in message
    assert list(read_only_dir.iterdir()) == []



# -- a save cut short --


@pytest.mark.parametrize("where", ["serialising", "renaming"])
@pytest.mark.parametrize("error", [KeyboardInterrupt, OSError])
def test_an_encoder_save_cut_short_keeps_the_old_file_and_no_temporary_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: type[BaseException],
        where: str) -> None:
    """Ctrl-C or a full disk in the middle of writing ``encoder.pt`` (while the weights are
    serialised, or once the temporary file is written): the previous file stays whole and
    no half-written temporary file is left in the run folder."""
    from medaug.store import save_state_dict

    path = save_state_dict(torch.nn.Linear(2, 2), tmp_path / "encoder.pt")
    before = path.read_bytes()
    real_save = torch.save

    def torn_save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(f, (str, os.PathLike)):
            Path(f).write_bytes(b"half a file")
        else:
            f.write(b"half a file")
        raise error("cut short")

    def torn_replace(src: Any, dst: Any) -> None:
        raise error("cut short")

    if where == "serialising":
        monkeypatch.setattr(torch, "save", torn_save)
    else:
        monkeypatch.setattr(os, "replace", torn_replace)
    with pytest.raises(error):
        save_state_dict(torch.nn.Linear(2, 2), path)
    monkeypatch.setattr(torch, "save", real_save)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["encoder.pt"]
