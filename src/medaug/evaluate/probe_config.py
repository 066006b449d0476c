"""The probe stage's configuration (the ``probe`` section of a config file)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medaug.config import from_mapping
from medaug.errors import ConfigError
from medaug.evaluate.metrics import scoring_problems

PROBES = ("logistic", "knn")


@dataclass(frozen=True)
class ProbeConfig:
    """How encoders are evaluated.

    Args:
        fractions: label fractions of the training split (patient-grouped, stratified).
        seeds: subsets drawn per fraction below 1 (the full set is one subset: seed 0).
        probes: ``logistic`` and/or ``knn``.
        knn_k: neighbours of the kNN probe.
        class_weight: ``None`` or ``"balanced"`` for the logistic probe.
        threshold: ``"youden"`` (chosen on val) or a fixed probability.
        bootstrap: replicates of the patient-level bootstrap; ``ci``: interval coverage.
        random_baseline: also evaluate each run's backbone randomly initialised with the run's
            seed, and compare against it.
        batch_size, device: of the feature extraction (``auto``: CUDA when there is one).
        seed: seed of the bootstrap.
    """

    fractions: tuple[float, ...] = (1.0,)
    seeds: int = 3
    probes: tuple[str, ...] = PROBES
    knn_k: int = 20
    class_weight: str | None = None
    threshold: str = "youden"
    bootstrap: int = 1000
    ci: float = 0.95
    random_baseline: bool = True
    batch_size: int = 256
    device: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        bad = []
        if not self.fractions or any(not 0 < f <= 1 for f in self.fractions):
            bad.append(f"label fractions must lie in (0, 1], got {self.fractions}")
        if self.seeds < 1:
            bad.append(f"seeds must be at least 1, got {self.seeds}")
        unknown = [p for p in self.probes if p not in PROBES]
        if unknown or not self.probes:
            bad.append(f"probes must be among {', '.join(PROBES)}, got {self.probes}")
        if self.knn_k < 1:
            bad.append(f"knn_k must be at least 1, got {self.knn_k}")
        bad += scoring_problems(self.threshold, self.class_weight, self.bootstrap, self.ci)
        if bad:
            raise ConfigError("probe: " + "; ".join(bad))


def probe_from_dict(raw: dict[str, Any], source: str = "config") -> ProbeConfig:
    """The ``probe`` section of a config as a :class:`ProbeConfig` (``fractions`` and
    ``probes`` may be lists or comma-separated text; ``class_weight: none`` is no weighting;
    fractions are sorted and made unique)."""
    config = from_mapping(ProbeConfig, raw.get("probe"), source, "probe")
    fractions = tuple(sorted(set(config.fractions)))
    if fractions != config.fractions:
        config = from_mapping(ProbeConfig, {**(raw.get("probe") or {}), "fractions": fractions},
                              source, "probe")
    return config
