"""An encoder with its classifier on top, as one ``nn.Module`` whose output is the abnormal
logit: the supervised run's own head, or the logistic probe folded into an ``nn.Linear``
(:meth:`medaug.evaluate.probe.LogisticProbe.as_linear`) so that Grad-CAM's gradient flows from
the probe's decision into the encoder's last convolutional block."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from medaug.errors import ConfigError
from medaug.evaluate.encoders import Encoder
from medaug.evaluate.features import extract_features
from medaug.evaluate.metrics import choose_threshold
from medaug.evaluate.probe import fit_logistic_probe
from medaug.explain.saved_probe import SavedProbe
from medaug.models.backbones import last_conv_block
from medaug.train.classifier import HEAD_FILE, load_head


class ProbedEncoder(nn.Module):
    """``head(encoder(x))``: images ``(B, 1, S, S)`` in [0, 1] -> abnormal logit ``(B, 1)``."""

    def __init__(self, encoder: nn.Module, head: nn.Linear) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.encoder(x))  # (B, D) -> (B, 1)

    def layer(self, name: str = "last") -> nn.Module:
        """The encoder's module where heat maps are taken: ``last``, its last convolutional
        block, or a module name of the encoder (``layer3``, ``layer4.1``, ...).

        Raises:
            ConfigError: a name that is not a module of the encoder.
        """
        if name == "last":
            return last_conv_block(self.encoder)
        modules = dict(self.encoder.named_modules())
        if not name or name not in modules:
            top = [n for n, _ in self.encoder.named_children()]
            raise ConfigError(f"layer {name!r} is not a module of the encoder; use 'last' or "
                              f"one of {', '.join(top)} (or a dotted name below them)")
        return modules[name]

    def predict_proba(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Probability of abnormal ``(N,)`` of uint8 images ``(N, S, S)`` (eval mode): the
        frozen forward pass of :func:`~medaug.evaluate.features.extract_features` on the
        whole model, whose one output is the abnormal logit."""
        logits = extract_features(self, images, np.arange(len(images)), batch_size)  # (N, 1)
        if len(images) == 0:
            return np.zeros(0)
        return torch.sigmoid(logits[:, 0].double()).numpy()


@dataclass
class Explained:
    """One model of the panel.

    Attributes:
        name: column title.
        model: encoder + head (frozen, CPU until moved).
        head: where the head came from (``"supervised head"`` or ``"logistic probe"``).
        probs: probability of abnormal ``(N,)`` of every cache row.
        threshold: decision threshold chosen on the validation split.
        info: the record (spec, weights SHA-256, probe C and validation AUROC, ...).
    """

    name: str
    model: ProbedEncoder
    head: str
    probs: np.ndarray
    threshold: float
    info: dict[str, Any] = field(default_factory=dict)


def has_head(encoder: Encoder) -> bool:
    """Whether ``encoder`` is a run folder with its own classifier head (``head.pt``)."""
    folder = encoder.info.get("folder")
    return folder is not None and (Path(folder) / HEAD_FILE).is_file()


def explained_model(encoder: Encoder, features: np.ndarray, labels: np.ndarray,
                    rows: dict[str, np.ndarray], threshold: str = "youden",
                    class_weight: str | None = None, saved: SavedProbe | None = None
                    ) -> Explained:
    """The :class:`Explained` of ``encoder`` given its features ``(N, D)`` of every cache row:
    a supervised run's own ``head.pt``, else the ``saved`` probe of ``medaug probe``, else a
    logistic probe fitted on the training rows (all labels; ``C`` chosen on validation),
    folded into an ``nn.Linear``. Probabilities come from the head on the features, the
    threshold from the validation rows."""
    info: dict[str, Any] = {"spec": encoder.spec, "weights_sha256": encoder.sha256,
                            "kind": encoder.info.get("kind")}
    if has_head(encoder):
        head, kind = load_head(Path(encoder.info["folder"])), "supervised head"
    elif saved is not None:
        head, kind = saved.probe.as_linear(), "logistic probe"
        info.update(probe_C=saved.probe.C, probe_val_auroc=saved.probe.val_auroc,
                    probe_file=str(saved.path), probe_threshold=saved.meta.get("threshold"))
    else:
        probe = fit_logistic_probe(features[rows["train"]], labels[rows["train"]],
                                   features[rows["val"]], labels[rows["val"]],
                                   class_weight=class_weight)
        head, kind = probe.as_linear(), "logistic probe"
        info.update(probe_C=probe.C, probe_val_auroc=probe.val_auroc)
    with torch.no_grad():
        logits = head(torch.as_tensor(features, dtype=torch.float32))[:, 0].double()
    probs = torch.sigmoid(logits).numpy()
    cut = choose_threshold(threshold, labels[rows["val"]], probs[rows["val"]])
    info.update(head=kind, threshold=cut)
    model = ProbedEncoder(encoder.module, head).eval()
    return Explained(encoder.name, model, kind, probs, cut, info)
