"""A build killed with SIGKILL: its decode workers die with it, and the next build removes
the build folder it left.

The killed build runs in a subprocess whose decode blocks forever (each worker first writes
its pid to a marker folder), so the test knows the workers are running when it kills the
parent. Waits are bounded polls, never assertions on speed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cache_trees import PLAIN, constant_png, make_tree

from medaug.data.cache import build_cache
from medaug.data.sources.folder import read_folder

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc (Linux)")

WAIT_S = 120.0  # an upper bound for slow machines, not an expectation

SCRIPT = '''
import os
import sys
import time
from pathlib import Path

from medaug.data import cache

MARKERS = Path(os.environ["MEDAUG_TEST_MARKERS"])


def blocking_decode(path):
    (MARKERS / str(os.getpid())).touch()
    while True:  # a decoder that never returns
        time.sleep(0.05)


cache.decode = blocking_decode  # module level: spawned workers import this file too

if __name__ == "__main__":
    from medaug.data.preprocess import PreprocessConfig
    from medaug.data.sources.folder import read_folder

    cache.build_cache(read_folder(sys.argv[1]), PreprocessConfig(size=8, clahe=False),
                      root=Path(sys.argv[2]), workers=2, progress=False)
'''


@dataclass
class KilledBuild:
    root: Path  # the cache root the killed build wrote into
    workers: list[int]  # pids of its decode workers
    work: Path  # a scratch folder


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_for(condition, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the build exited ({proc.returncode}) before {what}: "
                                 f"{proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KilledBuild]:
    work = tmp_path_factory.mktemp("killed")
    tree = work / "tree"
    for k in range(130):  # > 2 chunks of 64: decoded by a pool of 2 processes
        constant_png(tree / ("normal" if k % 2 == 0 else "abnormal") / f"v{k:03d}.png", k)
    markers = work / "markers"
    markers.mkdir()
    script = work / "blocking_build.py"
    script.write_text(SCRIPT)
    root = work / "cache"
    env = {**os.environ, "MEDAUG_TEST_MARKERS": str(markers)}
    proc = subprocess.Popen([sys.executable, str(script), str(tree), str(root)], env=env,
                            stderr=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        _wait_for(lambda: len(list(markers.iterdir())) >= 2, "two workers decode", proc)
        workers = [int(p.name) for p in markers.iterdir()]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        yield KilledBuild(root, workers, work)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in workers:  # whatever the test found, leave no process behind
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.stderr:
            proc.stderr.close()


def test_decode_workers_die_with_their_killed_parent(killed: KilledBuild) -> None:
    assert len(killed.workers) == 2
    _wait_for(lambda: not any(_alive(pid) for pid in killed.workers),
              f"workers {killed.workers} to exit after their parent was killed")


def test_next_build_removes_the_killed_build_folder(killed: KilledBuild) -> None:
    left = [p for p in killed.root.iterdir() if p.is_dir()]
    assert len(left) == 1 and ".tmp-" in left[0].name  # what the kill left behind
    cache = build_cache(read_folder(make_tree(killed.work / "other")), PLAIN,
                        root=killed.root, workers=1, progress=False)
    assert [p for p in killed.root.iterdir() if p.is_dir()] == [cache.root]
