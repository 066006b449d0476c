"""One call from a dataset to the cached dataset every stage reads.

A command calls :func:`open_dataset` once and passes the :class:`CachedDataset` on, so the
input files are listed and fingerprinted once per command, not once per stage or trial. It is
the one place that does ``build_cache(load_dataset(dataset, options), preprocess, ...)``.
"""

from __future__ import annotations

from typing import Any

from medaug.data.cache import CachedDataset, build_cache
from medaug.data.config import DataConfig, PrepareConfig, prepare_to_dict
from medaug.data.datasets import DataOptions, load_dataset
from medaug.data.preprocess import PreprocessConfig
from medaug.errors import DataError


def open_dataset(dataset: str | PrepareConfig, options: DataOptions | None = None,
                 preprocess: PreprocessConfig | None = None, *, workers: int | None = None,
                 progress: bool = False, resolved: dict[str, Any] | None = None
                 ) -> CachedDataset:
    """Read ``dataset``, assign and check its splits, and build (or reuse) its cache.

    Args:
        dataset: a data spec of :func:`medaug.data.datasets.load_dataset` (``knee``,
            ``folder:PATH``, ...), or a whole :class:`PrepareConfig` (then ``options`` and
            ``preprocess`` come from it and must not be given).
        options: reader and split options (default :class:`DataOptions`).
        preprocess: how the cache is made (default :class:`PreprocessConfig`).
        workers: decoding processes (default: CPU count; ``1`` decodes in this process).
        progress: show a progress bar.
        resolved: the resolved configuration saved in a new cache's ``meta.json`` (default:
            the ``data`` and ``preprocess`` sections made of the arguments).

    Raises:
        DataError: an unknown or missing dataset, a reader error, no image decoded, or
            ``options``/``preprocess`` given beside a :class:`PrepareConfig`.
        LeakageError: a patient or study in two splits.
    """
    if isinstance(dataset, PrepareConfig):
        if options is not None or preprocess is not None:
            raise DataError("open_dataset: give a PrepareConfig alone, or a dataset spec with "
                            "its options and preprocess settings, not both")
        config = dataset
    else:
        config = PrepareConfig(DataConfig(dataset, options or DataOptions()),
                               preprocess or PreprocessConfig())
    manifest = load_dataset(config.data.dataset, config.data.options)
    return build_cache(manifest, config.preprocess, workers=workers, progress=progress,
                       resolved=prepare_to_dict(config) if resolved is None else resolved)
