"""What a pretraining run reports each epoch, and where: loss, learning rate, images/s, the
spread of the normalised embeddings (with a warning when it collapses), kNN accuracy on the
validation split, and the encoder exported so far.

One row per epoch goes to ``training.csv`` (:data:`medaug.store.TRAINING_FILE`) in the run
folder (and, first, a row ``epoch = -1``
with the kNN accuracy of the randomly initialised encoder) (rewritten through a temporary
file; a resumed run replaces the rows of the epochs it trains again; a folder made before the
name changed keeps its rows in ``metrics.csv``, which are read from there and moved to
``training.csv`` by the first write). Labels are read here
only, for the kNN monitor; the method never sees them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch

from medaug.evaluate.features import extract_features
from medaug.evaluate.knn import knn_accuracy
from medaug.store import TRAINING_FILE, export_encoder, training_log_path, write_table

#: The ``epoch`` of the row that holds the randomly initialised encoder's kNN accuracy.
INIT_EPOCH = -1
COLUMNS = ["epoch", "step", "loss", "lr", "images_per_s", "emb_std", "emb_spread", "knn_acc",
           "knn_balanced_acc", "epoch_s", "collapse_warning"]
#: ``emb_std`` is the standard deviation of the l2-normalised embeddings over the batch,
#: averaged over their dimensions (lightly's ``std_of_l2_normalized``; ``1/sqrt(dim)`` when
#: they spread evenly); ``emb_spread`` is it times sqrt(dim): about 1 when they spread over
#: the sphere, 0 when they collapse to one point. Below this spread the monitor warns.
COLLAPSE_SPREAD = 0.1


@dataclass(frozen=True)
class KnnSplits:
    """Labelled rows of a cache for the kNN monitor: the train split is the bank, val the
    queries."""

    images: np.ndarray  # (N, S, S) uint8
    bank: np.ndarray  # row indices
    bank_labels: np.ndarray
    query: np.ndarray
    query_labels: np.ndarray
    k: int = 20


class Monitor(L.Callback):
    """Per-epoch metrics, the collapse warning, and the encoder export of a pretraining run.

    Args:
        folder: the run folder (``training.csv`` and the encoder go there).
        backbone_name: recorded beside the exported encoder.
        knn: the kNN monitor's data, or ``None`` (no labels or no val split).
        encoder_info: more fields for ``encoder.json`` (image size, data fingerprint, ...).
        say: prints one line per epoch (the console's ``print``; ``None`` is silent).
    """

    def __init__(self, folder: Path, backbone_name: str, knn: KnnSplits | None = None,
                 encoder_info: dict[str, Any] | None = None,
                 say: Callable[[str], None] | None = None) -> None:
        self.folder = Path(folder)
        self.backbone_name = backbone_name
        self.knn = knn
        self.encoder_info = encoder_info or {}
        self.say = say
        self._images = 0
        self._t_epoch = 0.0
        self._t_step = 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Drop the rows of epochs a resumed run trains again; on a fresh run, record the
        kNN accuracy of the randomly initialised encoder as epoch -1 (every gain is measured
        against it)."""
        if not trainer.is_global_zero:
            return
        rows = read_training(self.folder)
        if len(rows):
            write_training(self.folder, rows[rows["epoch"] < trainer.current_epoch])
        elif trainer.global_step == 0 and self.knn is not None:
            nan = float("nan")
            row: dict[str, Any] = dict.fromkeys(COLUMNS, nan)
            row.update(epoch=INIT_EPOCH, step=0, collapse_warning=False)
            row["knn_acc"], row["knn_balanced_acc"] = self._knn(pl_module)
            write_training(self.folder, pd.DataFrame([row], columns=COLUMNS))
            if self.say is not None:
                self.say(f"random init: kNN acc {row['knn_acc']:.3f} (balanced "
                         f"{row['knn_balanced_acc']:.3f})")

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._images = 0
        self._t_epoch = self._t_step = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        now = time.perf_counter()
        n = int(batch.shape[0]) * trainer.world_size
        self._images += n
        pl_module.log("img_s", n / max(now - self._t_step, 1e-9), on_step=True, on_epoch=False,
                      prog_bar=True, batch_size=int(batch.shape[0]))
        self._t_step = now

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        flush = getattr(pl_module, "flush_loss_check", None)
        if flush is not None:  # a NaN in the epoch's last step stops before any export
            flush()
        elapsed = time.perf_counter() - self._t_epoch
        metrics = trainer.callback_metrics
        spread = float(metrics.get("emb_spread", float("nan")))
        row: dict[str, Any] = {
            "epoch": trainer.current_epoch, "step": trainer.global_step,
            "loss": float(metrics.get("epoch_loss", float("nan"))),
            "lr": trainer.optimizers[0].param_groups[0]["lr"],
            "images_per_s": self._images / max(elapsed, 1e-9),
            "emb_std": float(metrics.get("emb_std", float("nan"))), "emb_spread": spread,
            "knn_acc": float("nan"), "knn_balanced_acc": float("nan"), "epoch_s": elapsed,
            "collapse_warning": bool(spread < COLLAPSE_SPREAD),
        }
        for name in getattr(pl_module, "EPOCH_METRICS", ()):  # the method's own columns
            row[name] = float(metrics.get(name, float("nan")))
        signs = list(getattr(pl_module, "collapse_warnings", lambda r: [])(row))
        row["collapse_warning"] = bool(row["collapse_warning"] or signs)
        if not trainer.is_global_zero:
            return
        if self.knn is not None:
            row["knn_acc"], row["knn_balanced_acc"] = self._knn(pl_module)
        rows = read_training(self.folder)
        new = pd.DataFrame([row], columns=[*COLUMNS, *(k for k in row if k not in COLUMNS)])
        rows = rows[rows["epoch"] != row["epoch"]]
        write_training(self.folder, pd.concat([rows, new], ignore_index=True) if len(rows) else new)
        export_encoder(pl_module.backbone, self.folder, self.backbone_name,
                       epoch=trainer.current_epoch, step=trainer.global_step, **self.encoder_info)
        if self.say is not None:
            self.say(format_row(row))
            if spread < COLLAPSE_SPREAD:
                self.say(f"warning: embedding spread {spread:.3f} < {COLLAPSE_SPREAD}: the "
                         "embeddings are collapsing towards one point (try a lower --lr, other "
                         "ops, or for SimCLR a larger batch)")
            for sign in signs:
                self.say(f"warning: {sign}")

    def _knn(self, pl_module: L.LightningModule) -> tuple[float, float]:
        knn = self.knn
        if knn is None:
            return float("nan"), float("nan")
        backbone = pl_module.backbone
        bank = extract_features(backbone, knn.images, knn.bank, device=pl_module.device)
        query = extract_features(backbone, knn.images, knn.query, device=pl_module.device)
        return knn_accuracy(bank, torch.from_numpy(knn.bank_labels), query,
                            torch.from_numpy(knn.query_labels), k=knn.k)


def format_row(row: dict[str, Any]) -> str:
    """One human line of a metrics row."""
    knn = (f", kNN acc {row['knn_acc']:.3f} (balanced {row['knn_balanced_acc']:.3f})"
           if row["knn_acc"] == row["knn_acc"] else "")
    extra = "".join(f", {k.replace('_', ' ')} {v:.3f}" for k, v in row.items()
                    if k not in COLUMNS and isinstance(v, float))
    return (f"epoch {row['epoch']}: loss {row['loss']:.4f}, lr {row['lr']:.3g}, "
            f"{row['images_per_s']:.1f} img/s, spread {row['emb_spread']:.3f}{knn}{extra}")


def read_training(folder: Path) -> pd.DataFrame:
    """The run's per-epoch rows (``training.csv``, or a folder's old ``metrics.csv`` of
    epoch rows; empty, with the columns, when there is neither)."""
    path = training_log_path(Path(folder))
    if not path.is_file():
        return pd.DataFrame(columns=COLUMNS)
    return pd.read_csv(path)


def write_training(folder: Path, rows: pd.DataFrame) -> None:
    """Replace ``training.csv`` through a temporary file; an old folder's ``metrics.csv`` of
    epoch rows, read before, is removed once its rows are in ``training.csv``."""
    folder = Path(folder)
    old = training_log_path(folder)
    write_table(folder / TRAINING_FILE, rows)
    if old.name != TRAINING_FILE and old.is_file():
        old.unlink()
