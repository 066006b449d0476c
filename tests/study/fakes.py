"""A planted runner for worker tests: no training, numbers planted per combination, and every
call appended to a log file (so tests count what ran, across processes)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from medaug.study.session import open_session
from medaug.study.space import Point

#: Planted validation AUROC per combination short name (the planted best is ``flip+blur``).
PLANTED = {"flip": 0.70, "blur": 0.62, "rotate": 0.60, "flip+blur": 0.90, "flip+rotate": 0.72,
           "blur+rotate": 0.58}


def raw_config(methods: str = "simclr,byol", seeds: int = 2, search: bool = False,
               budget: int = 4, combos: str | None = "flip,blur") -> dict[str, Any]:
    study: dict[str, Any] = {"methods": methods.split(","), "seeds": seeds, "search": search,
                             "budget": budget, "pruner_startup": 2, "heartbeat": 0.2,
                             "grace": 2.0, "factors": ["clahe=on,off"]}
    if combos:
        study["combos"] = combos
    else:
        study |= {"ops": ["flip", "blur", "rotate"], "preset": "pairs"}
    return {"data": {"dataset": "pneumoniamnist"}, "pretrain": {"epochs": 1}, "study": study}


class FakeRunner:
    """Appends ``ssl <key>`` / ``reference <kind> <seed> <levels>`` to ``log`` per call."""

    def __init__(self, log: Path, delay: float = 0.0, noise: float = 0.01) -> None:
        self.log, self.delay, self.noise = Path(log), delay, noise

    def _write(self, line: str) -> None:
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    def ssl(self, point: Point, folder: Path, report: Callable[[int, float], bool]
            ) -> dict[str, Any]:
        self._write(f"ssl {point.key}")
        time.sleep(self.delay)
        val = PLANTED.get(point.combo.short, 0.5) + self.noise * ((point.seed * 7) % 3 - 1)
        return {"val_auroc": val, "val_logloss": 1 - val, "test_auroc": val - 0.01,
                "test_auroc_lo": val - 0.05, "test_auroc_hi": val + 0.03,
                "diff_vs_random": val - 0.7, "diff_lo": val - 0.75, "diff_hi": val - 0.65,
                "seconds": 1.0, "device": "cpu"}

    def reference(self, kind: str, seed: int, levels: dict[str, str], folder: Path
                  ) -> dict[str, Any]:
        self._write(f"reference {kind} {seed} {sorted(levels.items())}")
        time.sleep(self.delay)
        return {"val_auroc": 0.7, "test_auroc": 0.7, "seconds": 0.5, "device": "cpu"}


def main() -> None:
    """``python fakes.py FOLDER LOG [STORAGE_URL]``: one worker of the planted grid."""
    folder, log = Path(sys.argv[1]), Path(sys.argv[2])
    url = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
    session = open_session(folder, raw_config(), storage_url=url, say=None,
                           runner=FakeRunner(log, delay=0.05))
    session.work()


if __name__ == "__main__":
    main()
