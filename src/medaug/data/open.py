"""One call from a data configuration to the cached dataset every stage reads.

A command calls :func:`open_dataset` once and passes the :class:`CachedDataset` on, so the
input files are listed and fingerprinted once per command, not once per stage or trial.
"""

from __future__ import annotations

from medaug.data.cache import CachedDataset, build_cache
from medaug.data.config import PrepareConfig, prepare_to_dict
from medaug.data.datasets import load_dataset


def open_dataset(config: PrepareConfig, *, workers: int | None = None,
                 progress: bool = False) -> CachedDataset:
    """Read the dataset of ``config``, assign and check its splits, and build (or reuse) its
    cache; the resolved ``data``/``preprocess`` sections are saved in a new cache's
    ``meta.json``.

    Raises:
        DataError: an unknown or missing dataset, a reader error, or no image decoded.
    """
    manifest = load_dataset(config.data.dataset, config.data.options)
    return build_cache(manifest, config.preprocess, workers=workers, progress=progress,
                       resolved=prepare_to_dict(config))
