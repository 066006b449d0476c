"""``python killer.py FOLDER NPZ N``: a real study worker (tiny images) that SIGKILLs itself
at the end of the N-th training epoch it runs (the kill a crashed machine or OOM gives)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import lightning as L

from medaug.study.session import open_session


def tiny_study(npz: Path, epochs: int = 2) -> dict[str, Any]:
    return {"data": {"dataset": f"medmnist:{npz}"},
            "preprocess": {"size": 16, "clahe": False},
            "pretrain": {"epochs": epochs, "batch_size": 8, "accelerator": "cpu"},
            "study": {"methods": ["simclr", "byol"], "combos": "flip,flip+blur", "seeds": 1,
                      "bootstrap": 100, "heartbeat": 0.5, "grace": 5.0}}


class KillAt(L.Callback):
    """SIGKILL this process at the end of its ``n``-th training epoch (counted over trials)."""

    def __init__(self, n: int) -> None:
        self.n, self.seen = n, 0

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.seen += 1
        if self.seen == self.n:
            os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    folder, npz, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    open_session(folder, tiny_study(npz), say=None, callbacks=[KillAt(n)]).work()
