"""The study worker on a planted runner: the grid enqueued once, finished trials never rerun,
dead workers' trials taken over, two processes without duplicates, and the pruner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest
from fakes import FakeRunner, raw_config
from optuna.trial import TrialState

from medaug.study.layout import TRIALS_FILE
from medaug.study.session import open_session
from medaug.study.storage import WORKER

HERE = Path(__file__).resolve().parent
GRID = 2 * 2 * 2 * 2  # methods x combos x clahe levels x seeds
REFS = 2 * 2  # random references: seeds x clahe levels


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.is_file() else []


def test_grid_runs_once_and_a_rerun_recomputes_nothing(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    session = open_session(tmp_path / "st", raw_config(), say=None, runner=FakeRunner(log))
    result = session.work()
    assert len(result.finished) == GRID + REFS and not result.failed
    ssl = [c for c in calls(log) if c.startswith("ssl ")]
    assert len(ssl) == GRID == len(set(ssl))
    trials = pd.read_csv(tmp_path / "st" / TRIALS_FILE)
    assert (trials["state"] == "COMPLETE").sum() == GRID
    assert set(trials["clahe"]) == {"on", "off"}
    assert trials["gain_vs_random_mean"].notna().all()  # references at 0.7
    again = open_session(tmp_path / "st", raw_config(), say=None, runner=FakeRunner(log))
    assert again.work().finished == []
    assert len(calls(log)) == GRID + REFS


def test_another_study_in_the_folder_is_refused(tmp_path: Path) -> None:
    from medaug.errors import ConfigError

    open_session(tmp_path / "st", raw_config(), say=None, runner=FakeRunner(tmp_path / "l"))
    with pytest.raises(ConfigError, match=r"holds another study.*seeds"):
        open_session(tmp_path / "st", raw_config(seeds=3), say=None,
                     runner=FakeRunner(tmp_path / "l"))


def test_a_dead_workers_trial_is_taken_over(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    session = open_session(tmp_path / "st", raw_config(), say=None, runner=FakeRunner(log))
    worker = session.worker
    worker.enqueue()
    study = worker.studies["simclr"]
    from medaug.study.storage import claim

    trial_id = claim(worker.storage, study)
    # the claiming worker "died": a pid that does not run on this host
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    import socket

    worker.storage.set_trial_system_attr(trial_id, WORKER,
                                         {"host": socket.gethostname(), "pid": int(dead)})
    key = worker.storage.get_trial(trial_id).user_attrs["key"]
    session.work()
    states = {t.number: t.state for t in study.get_trials()}
    assert TrialState.FAIL in states.values()
    done = [t for t in study.get_trials(states=(TrialState.COMPLETE,))]
    assert sorted(t.user_attrs["key"] for t in done).count(key) == 1
    assert len({t.user_attrs["key"] for t in done}) == len(done) == GRID // 2


def _two_workers(folder: Path, log: Path, url: str = "") -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    procs = [subprocess.Popen([sys.executable, str(HERE / "fakes.py"), str(folder), str(log),
                               url], env=env) for _ in range(2)]
    assert [p.wait(timeout=180) for p in procs] == [0, 0]


def _check_no_duplicates(folder: Path, log: Path, storage: object) -> None:
    ssl = [c for c in calls(log) if c.startswith("ssl ")]
    assert len(ssl) == GRID and len(set(ssl)) == GRID  # every point ran exactly once
    refs = [c for c in calls(log) if c.startswith("reference ")]
    assert len(refs) == REFS == len(set(refs))
    keys = []
    for s in optuna.get_all_study_summaries(storage):
        study = optuna.load_study(study_name=s.study_name, storage=storage)
        keys += [t.user_attrs["key"] for t in study.get_trials(states=(TrialState.COMPLETE,))]
    assert len(keys) == len(set(keys)) == GRID + REFS
    workers = {(t.system_attrs.get(WORKER) or {}).get("pid")
               for s in optuna.get_all_study_summaries(storage)
               for t in optuna.load_study(study_name=s.study_name, storage=storage).get_trials()}
    assert len(workers) == 2  # both processes took work


def test_two_processes_share_the_journal_store_without_duplicates(tmp_path: Path) -> None:
    from medaug.study.storage import open_storage

    folder, log = tmp_path / "st", tmp_path / "calls.log"
    _two_workers(folder, log)
    _check_no_duplicates(folder, log, open_storage(folder))


def test_two_processes_share_a_postgresql_store_without_duplicates(tmp_path: Path,
                                                                   postgres_url: str) -> None:
    import uuid

    from medaug.study.storage import open_storage

    folder, log = tmp_path / f"st-{uuid.uuid4().hex[:8]}", tmp_path / "calls.log"
    _two_workers(folder, log, postgres_url)
    storage = open_storage(folder, postgres_url)
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)
             if s.study_name.startswith(folder.name + ":")]
    assert len(names) == 3  # simclr, byol, references
    ssl = [c for c in calls(log) if c.startswith("ssl ")]
    assert len(ssl) == GRID == len(set(ssl))
    keys = [t.user_attrs["key"] for n in names
            for t in optuna.load_study(study_name=n, storage=storage).get_trials(
                states=(TrialState.COMPLETE,))]
    assert len(keys) == len(set(keys)) == GRID + REFS
    assert (folder / "store.url").read_text().strip() == postgres_url


def test_the_pruner_keeps_the_planted_best_and_saves_compute(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    raw = raw_config(methods="simclr", seeds=3, search=True, budget=8, combos=None)
    session = open_session(tmp_path / "st", raw, say=None, runner=FakeRunner(log))
    session.work()
    study = session.worker.studies["simclr"]
    trials = study.get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = max(complete, key=lambda t: t.value)
    assert best.params["combo"] == "flip+blur"
    pruned = [t for t in trials if t.state == TrialState.PRUNED
              and "duplicate_of" not in t.user_attrs]
    assert pruned, "some weak trial must have been stopped early"
    # a pruned trial ran fewer seeds than the 3 of a complete one
    assert all(len(t.user_attrs["points"]) < 3 for t in pruned)
    ssl = [c for c in calls(log) if c.startswith("ssl ")]
    configs = len({(t.params["combo"], t.params["clahe"]) for t in complete + pruned})
    assert len(ssl) < 3 * configs  # seeds as steps: pruning saved whole seeds
    rows = pd.read_csv(tmp_path / "st" / TRIALS_FILE)
    assert set(rows["state"]) <= {"COMPLETE", "PRUNED"}
    assert len(rows) == len(ssl)  # one row per seed a search trial ran


class _StopAt(FakeRunner):
    """Raises Interrupted (Ctrl-C / SIGTERM during pretraining) at the ``n``-th SSL trial."""

    def __init__(self, log: Path, n: int) -> None:
        super().__init__(log)
        self.n, self.seen = n, 0

    def ssl(self, point, folder, report):  # type: ignore[no-untyped-def]
        self.seen += 1
        if self.seen == self.n:
            from medaug.store import Interrupted

            raise Interrupted("interrupted", exit_code=143)
        return super().ssl(point, folder, report)


def test_an_interrupted_trial_is_given_back_and_the_rerun_finishes_it(tmp_path: Path) -> None:
    from medaug.store import Interrupted

    log = tmp_path / "calls.log"
    session = open_session(tmp_path / "st", raw_config(), say=None,
                           runner=_StopAt(log, n=3))
    with pytest.raises(Interrupted):
        session.work()
    study = session.worker.studies["simclr"]
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert len(failed) == 1 and failed[0].user_attrs["reason"] == "interrupted"
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert failed[0].user_attrs["key"] in {t.user_attrs["key"] for t in waiting}
    again = open_session(tmp_path / "st", raw_config(), say=None, runner=FakeRunner(log))
    again.work()
    done = [t.user_attrs["key"] for s in again.worker.studies.values()
            for t in s.get_trials(states=(TrialState.COMPLETE,))]
    assert len(done) == len(set(done)) == GRID + REFS


def test_a_grid_cut_short_holds_every_method_at_its_first_seeds(tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    session = open_session(tmp_path / "st", raw_config(), say=None, runner=FakeRunner(log))
    session.work(max_trials=REFS + GRID // 2)  # references, then half of the SSL trials
    ssl = [c.split()[1] for c in calls(log) if c.startswith("ssl ")]
    assert len(ssl) == GRID // 2
    assert {k.split("-")[0] for k in ssl} == {"simclr", "byol"}
    assert all(k.split("-")[-2] == "s0" for k in ssl)  # seed 0 of both methods first
