"""The runner of a study's trials on real data: one opened dataset per level of the data
factors (opened once per worker), every trial through :mod:`medaug.study.trial`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd

from medaug.atomic import write_table
from medaug.data.cache import CachedDataset
from medaug.data.config import PrepareConfig
from medaug.data.open import open_dataset
from medaug.study.config import StudyConfig
from medaug.study.factors import apply_levels, data_levels
from medaug.study.layout import PARTS_FILE
from medaug.study.space import Point
from medaug.study.trial import (
    run_random_reference,
    run_ssl_trial,
    run_supervised_reference,
    trial_pretrain,
)


class TrialRunner:
    """Runs SSL trials and references of ``config``; ``callbacks`` go to every pretraining
    (tests use one to kill a worker mid-trial)."""

    def __init__(self, config: StudyConfig, say: Callable[[str], None] | None = print,
                 callbacks: Sequence[L.Callback] = (), folder: Path | None = None) -> None:
        self.config, self.say, self.callbacks, self.folder = config, say, callbacks, folder
        self._caches: dict[tuple, CachedDataset] = {}
        self.trainings = 0  # pretrainings this runner started or resumed

    def _data(self, levels: dict[str, str]) -> tuple[PrepareConfig, CachedDataset]:
        data, _ = apply_levels(self.config.data, self.config.pretrain, data_levels(levels))
        key = tuple(sorted(data_levels(levels).items()))
        if key not in self._caches:
            self._caches[key] = open_dataset(data)
            self._write_parts(self._caches[key])
        return data, self._caches[key]

    def _write_parts(self, cache: CachedDataset) -> None:
        """``parts.csv`` (row, part) in the study folder where the data holds several body
        parts, for the report's per-part ranking."""
        frame = cache.manifest.frame
        parts = frame["body_part"].astype(str)
        path = None if self.folder is None else self.folder / PARTS_FILE
        if path is None or path.is_file() or parts.replace("", None).dropna().nunique() < 2:
            return
        write_table(path, pd.DataFrame({"row": range(len(frame)), "part": parts}))

    def ssl(self, point: Point, folder: Path, report: Callable[[int, float], bool]
            ) -> dict[str, Any]:
        levels = dict(point.levels)
        data, cache = self._data(levels)
        _, pretrain = apply_levels(self.config.data, self.config.pretrain, levels)
        pretrain = trial_pretrain(pretrain, point.method, point.combo.spec, point.seed)
        opts = self.config.options
        return run_ssl_trial(data, pretrain, folder, cache, opts.fractions, opts.bootstrap,
                             say=self.say, callbacks=self.callbacks)

    def reference(self, kind: str, seed: int, levels: dict[str, str], folder: Path
                  ) -> dict[str, Any]:
        data, cache = self._data(levels)
        opts, pretrain = self.config.options, self.config.pretrain
        if kind == "random":
            return run_random_reference(data, pretrain.backbone, seed, folder, cache,
                                        opts.bootstrap)
        return run_supervised_reference(data, pretrain, opts.supervised_epochs, seed, folder,
                                        cache, opts.bootstrap, say=self.say)
