"""The explain stage's configuration (the ``explain`` section of a config file)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medaug.config import from_mapping
from medaug.errors import ConfigError
from medaug.evaluate.metrics import scoring_problems
from medaug.explain.faithfulness import PERCENTILES

TARGETS = ("abnormal", "predicted")


@dataclass(frozen=True)
class ExplainConfig:
    """What ``medaug explain`` draws and measures.

    Args:
        images: rows of the panel, chosen among the test images to mix the first model's TP,
            FN, FP and TN (ignored when ``paths`` are given).
        paths: images to show instead, by path (see :func:`rows_for_paths`).
        method: ``gradcam``, ``gradcam++`` or ``eigencam``.
        target: the logit explained: ``abnormal`` for every image, or ``predicted`` (each
            model's own call: the abnormal logit where it says abnormal, the normal one else).
        layer: where the maps are taken: ``last`` (the encoder's last convolutional block) or
            a module name of the encoder (e.g. ``layer3``: finer maps for small images).
        faithfulness_images: test images (drawn at random from ``seed``, the same for every
            model) scored with ROAD; 0 skips the faithfulness tables.
        percentiles: ROAD's removal percentiles.
        threshold: ``youden`` (on val) or a fixed probability: where a model calls abnormal.
        class_weight: the logistic probe's (``None`` or ``balanced``).
        bootstrap: patient-level replicates of the intervals; ``ci`` their coverage.
        seed: image choice, random maps, imputation noise and bootstrap.
        batch_size, device: of the forward and backward passes (``auto``: CUDA if any).
        probe: an evaluation folder of ``medaug probe`` whose saved probes
            (``probes/<model>.npz``) are explained instead of fitting a probe again (matched
            by the encoder's weights SHA-256 and the data fingerprint); ``None``: fit one.
    """

    images: int = 8
    paths: tuple[str, ...] = ()
    method: str = "gradcam"
    target: str = "abnormal"
    layer: str = "last"
    faithfulness_images: int = 64
    percentiles: tuple[int, ...] = PERCENTILES
    threshold: str = "youden"
    class_weight: str | None = None
    bootstrap: int = 1000
    ci: float = 0.95
    seed: int = 0
    batch_size: int = 32
    device: str = "auto"
    probe: str | None = None

    def __post_init__(self) -> None:
        bad = []
        if self.images < 1 and not self.paths:
            bad.append(f"images must be at least 1, got {self.images}")
        if self.method not in ("gradcam", "gradcam++", "eigencam"):
            bad.append(f"method must be gradcam, gradcam++ or eigencam, got {self.method!r}")
        if self.target not in TARGETS:
            bad.append(f"target must be abnormal or predicted, got {self.target!r}")
        if self.faithfulness_images < 0:
            bad.append(f"faithfulness_images must be 0 or more, got {self.faithfulness_images}")
        if not self.percentiles or any(not 0 < q < 100 for q in self.percentiles):
            bad.append(f"percentiles must lie in (0, 100), got {self.percentiles}")
        bad += scoring_problems(self.threshold, self.class_weight, self.bootstrap, self.ci)
        if not self.layer:
            bad.append("layer must be 'last' or a module name of the encoder")
        if self.batch_size < 1:
            bad.append(f"batch_size must be at least 1, got {self.batch_size}")
        if bad:
            raise ConfigError("explain: " + "; ".join(bad))


def explain_from_dict(raw: dict[str, Any], source: str = "config") -> ExplainConfig:
    """The ``explain`` section of a config as an :class:`ExplainConfig` (``paths`` and
    ``percentiles`` may be lists or comma-separated text; ``class_weight: none`` is no
    weighting)."""
    return from_mapping(ExplainConfig, raw.get("explain"), source, "explain")
