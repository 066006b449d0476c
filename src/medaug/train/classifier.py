"""The supervised baseline: the same backbone trained end to end on the labels, with a linear
head, the same augmentation ops available, and a budget comparable to pretraining.

Batches are the cache's ``uint8`` images with their labels; the ops (one view) are applied
batched on the training device from a generator seeded by (seed, step), as in pretraining.
After every validation pass the head's validation AUROC decides whether these weights are the
best so far; only the best are exported (``encoder.pt``/``encoder.json`` like a pretraining
run, plus ``head.pt``), so the test split never chooses anything.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from medaug.augment.pipeline import Pipeline
from medaug.errors import TrainingError
from medaug.evaluate.metrics import auroc
from medaug.methods.optim import OptimConfig, augment_batch, check_finite, configure, step_seed
from medaug.models.backbones import feature_dim
from medaug.store import export_encoder, save_state_dict
from medaug.train.data import seeded_loader

HEAD_FILE = "head.pt"


class LabelledImages(Dataset[tuple[Tensor, Tensor]]):
    """Rows ``indices`` of a cache's images ``(N, S, S)`` uint8 with their 0/1 labels."""

    def __init__(self, images: np.ndarray, indices: np.ndarray, labels: np.ndarray) -> None:
        self.images = images
        self.indices = np.asarray(indices, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        image = torch.from_numpy(np.array(self.images[self.indices[i]]))  # (S, S) uint8
        return image, torch.tensor(self.labels[self.indices[i]])


class LabelledData(L.LightningDataModule):
    """Training rows (shuffled each epoch from (seed, epoch)) and validation rows of a
    cache."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, train: np.ndarray,
                 val: np.ndarray, batch_size: int, seed: int = 0, workers: int = 0) -> None:
        super().__init__()
        if len(train) < 2:
            raise TrainingError(f"supervised training needs at least 2 labelled images, got "
                                f"{len(train)}")
        self.train_set = LabelledImages(images, train, labels)
        self.val_set = LabelledImages(images, val, labels)
        self.batch_size = min(int(batch_size), len(train))
        self.seed = int(seed)
        self.workers = int(workers)

    def train_dataloader(self) -> DataLoader:
        return seeded_loader(self.train_set, self.batch_size, self.seed, self.workers)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=256, shuffle=False, num_workers=self.workers)


class SupervisedClassifier(L.LightningModule):
    """Backbone ``(B, 1, S, S) -> (B, D)`` and ``nn.Linear(D, 1)``: the abnormal logit.

    Args:
        backbone: from :func:`medaug.models.create_backbone`.
        augment: ops applied to each training batch (identity pipeline for none).
        optim: optimiser and schedule (the peak rate is not scaled by the batch).
        pos_weight: weight of the abnormal class in the loss (``n_normal / n_abnormal`` for
            balanced classes), ``None`` for 1.
        seed: seed of the augmentation draws.
        export_to: run folder where the best weights are exported, with ``encoder_info``.
    """

    def __init__(self, backbone: nn.Module, augment: Pipeline, optim: OptimConfig,
                 pos_weight: float | None = None, seed: int = 0, export_to: Path | None = None,
                 backbone_name: str = "resnet18", encoder_info: dict[str, Any] | None = None,
                 say: Callable[[str], None] | None = None) -> None:
        super().__init__()
        optim.check()
        self.backbone = backbone
        self.head = nn.Linear(feature_dim(backbone), 1)
        self.augment = augment
        self.optim = optim
        self.seed = int(seed)
        self.export_to = export_to
        self.backbone_name = backbone_name
        self.encoder_info = encoder_info or {}
        self.say = say
        self.register_buffer("pos_weight", torch.tensor(float(pos_weight or 1.0)))
        # kept in checkpoints so that a resumed run knows the best it has seen
        self.register_buffer("best_auroc", torch.tensor(-1.0))
        self.register_buffer("best_epoch", torch.tensor(-1))
        self._val: list[tuple[Tensor, Tensor]] = []
        self._train_loss: Tensor | float = 0.0
        self._train_steps = 0

    def forward(self, x: Tensor) -> Tensor:
        """Abnormal logits ``(B,)`` of images ``(B, 1, S, S)`` in [0, 1]."""
        return self.head(self.backbone(x)).squeeze(1)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        images, labels = batch
        x = augment_batch(self.augment, images, self.device,
                          step_seed(self.seed, self.global_step))
        loss = F.binary_cross_entropy_with_logits(self(x), labels.float(),
                                                  pos_weight=self.pos_weight)
        check_finite(loss.detach(), "supervised", None, self.global_step)
        self.log("loss", loss.detach(), on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=len(labels))
        self._train_loss = self._train_loss + loss.detach()  # mean since the last validation
        self._train_steps += 1
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        images, labels = batch
        x = images.float().div_(255).unsqueeze(1)
        self._val.append((torch.sigmoid(self(x).float()).cpu(), labels.cpu()))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        probs = torch.cat([p for p, _ in self._val]).numpy()
        labels = torch.cat([y for _, y in self._val]).numpy()
        self._val.clear()
        score = auroc(labels, probs)
        self.log("val_auroc", float(score), prog_bar=True)
        if self.trainer.sanity_checking or np.isnan(score):
            return
        if score > float(self.best_auroc):
            self.best_auroc.fill_(score)
            self.best_epoch.fill_(self.current_epoch)
            if self.export_to is not None:
                self.export(self.export_to)
        if self.say is not None:
            loss = (f"train loss {float(self._train_loss) / self._train_steps:.4f}, "
                    if self._train_steps else "")
            self.say(f"epoch {self.current_epoch}: {loss}val AUROC {score:.3f} (best "
                     f"{float(self.best_auroc):.3f} at epoch {int(self.best_epoch)})")
        self._train_loss, self._train_steps = 0.0, 0

    def export(self, folder: Path) -> None:
        """Write the backbone (``encoder.pt``/``encoder.json``) and ``head.pt``."""
        export_encoder(self.backbone, folder, self.backbone_name, **self.encoder_info,
                       best_epoch=int(self.best_epoch), val_auroc=float(self.best_auroc))
        save_state_dict(self.head, folder / HEAD_FILE)

    def configure_optimizers(self) -> dict[str, Any]:
        lr = self.optim.lr if self.optim.lr is not None else (
            0.1 if self.optim.optimizer == "sgd" else 1e-3)
        total = max(1, int(self.trainer.estimated_stepping_batches)) if self._trainer else 1
        return configure(self, self.optim, lr, total)


def load_head(folder: Path) -> nn.Linear:
    """The ``nn.Linear(D, 1)`` saved beside a supervised run's encoder.

    Raises:
        TrainingError: no ``head.pt`` in ``folder``.
    """
    path = Path(folder) / HEAD_FILE
    if not path.is_file():
        raise TrainingError(f"{folder}: no {HEAD_FILE} (not a finished `medaug supervised` run)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    head = nn.Linear(state["weight"].shape[1], 1)
    head.load_state_dict(state)
    return head
