"""Build once, read many: decoded, CLAHE'd, resized images in a ``uint8`` memory map.

A cache folder holds ``images.npy`` ``(N, S, S)`` uint8 (opened memory-mapped), the Manifest
of the images it holds (``manifest.csv``, row ``i`` <-> ``images[i]``), ``rejected.csv``
(path, index, reason of every file that did not decode) and ``meta.json`` (parameters,
counts, fingerprint). Its name ends with a fingerprint of every input file (path, size,
modification time), every Manifest row and every parameter: a second call reuses it, a changed
file or parameter makes a new one, and variants (with and without CLAHE, several sizes) live
side by side. A cache is built in a temporary folder and renamed into place when complete, so
an interrupted build leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

from medaug.data.manifest import Manifest
from medaug.data.preprocess import DecodeError, PreprocessConfig, decode, preprocess
from medaug.data.splits import check_leakage
from medaug.errors import DataError
from medaug.paths import cache_dir

CACHE_VERSION = 1
_CHUNK = 64


@dataclass
class CachedDataset:
    """A built cache: ``images[i]`` is the image of ``manifest`` row ``i``."""

    root: Path
    images: np.ndarray  # (N, S, S) uint8, memory-mapped
    manifest: Manifest
    rejected: pd.DataFrame
    config: PreprocessConfig
    fingerprint: str
    reused: bool = False

    def __len__(self) -> int:
        return len(self.manifest)

    def split_indices(self, split: str) -> np.ndarray:
        """Row indices of one split."""
        return np.flatnonzero(self.manifest.frame["split"].to_numpy() == split)

    def describe(self) -> dict[str, str]:
        """The dataset's name, fingerprint and cache folder, as records carry them."""
        return {"name": self.manifest.name, "fingerprint": self.fingerprint,
                "cache": str(self.root)}

    def labelled_splits(self, purpose: str) -> dict[str, np.ndarray]:
        """Row indices of ``train``, ``val`` and ``test``.

        Raises:
            DataError: a split that is empty or holds one class only (``purpose``, e.g. "a
                probe", says what needs them).
        """
        labels = self.manifest.frame["label"].to_numpy()
        rows = {split: self.split_indices(split) for split in ("train", "val", "test")}
        for split, idx in rows.items():
            if len(idx) == 0:
                raise DataError(f"{self.manifest.name}: the {split} split is empty; {purpose} "
                                "needs train, val and test images")
            if len(np.unique(labels[idx])) < 2:
                raise DataError(f"{self.manifest.name}: the {split} split has one class only; "
                                f"{purpose} needs both")
        return rows


def fingerprint(manifest: Manifest, config: PreprocessConfig) -> str:
    """SHA-256 over the parameters, every Manifest row, and each input file's size and
    modification time."""
    h = hashlib.sha256()
    h.update(json.dumps({"version": CACHE_VERSION, "config": asdict(config)},
                        sort_keys=True).encode())
    frame = manifest.frame
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    for path in sorted(set(frame["path"])):
        try:
            st = os.stat(path)
            h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{path}\0missing\n".encode())
    return h.hexdigest()


def build_cache(manifest: Manifest, config: PreprocessConfig, root: Path | None = None,
                workers: int | None = None, progress: bool = True,
                resolved: dict | None = None) -> CachedDataset:
    """Decode, preprocess and store every image of ``manifest`` (or reuse a cache).

    Args:
        root: cache root (default :func:`medaug.paths.cache_dir`).
        workers: decoding processes (default: CPU count; ``1`` decodes in this process).
        progress: show a progress bar.
        resolved: the run's resolved configuration, saved in ``meta.json`` of a new cache.

    Raises:
        DataError: no image decoded, or a class left empty after rejections (the message
            names ``rejected.csv``).
        LeakageError: a patient or study of ``manifest`` is in two splits.
    """
    check_leakage(manifest)  # also for Manifests that did not come through assign_splits
    root = Path(root) if root is not None else cache_dir()
    fp = fingerprint(manifest, config)
    folder = root / f"{_safe(manifest.name)}-{config.tag()}-{fp[:12]}"
    if (folder / "meta.json").is_file():
        return open_cache(folder, reused=True)
    tmp = root / f".{folder.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _build(manifest, config, tmp, fp, workers, progress, resolved)
        try:
            os.replace(tmp, folder)
        except OSError:  # another process finished the same cache first
            if not (folder / "meta.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return open_cache(folder)


def open_cache(folder: Path, reused: bool = False) -> CachedDataset:
    """Open a finished cache folder."""
    meta = json.loads((folder / "meta.json").read_text())
    images = np.load(folder / "images.npy", mmap_mode="r")
    manifest = Manifest.read_csv(folder / "manifest.csv", name=meta["name"])
    rejected = pd.read_csv(folder / "rejected.csv", dtype={"path": str, "reason": str},
                           keep_default_na=False)
    return CachedDataset(folder, images, manifest, rejected, PreprocessConfig(**meta["config"]),
                         meta["fingerprint"], reused)


def _build(manifest: Manifest, config: PreprocessConfig, out: Path, fp: str,
           workers: int | None, progress: bool, resolved: dict | None = None) -> None:
    frame = manifest.frame
    n = len(frame)
    started = time.perf_counter()
    images = np.lib.format.open_memmap(out / "images.npy", mode="w+", dtype=np.uint8,
                                       shape=(n, config.size, config.size))
    ok = np.zeros(n, dtype=bool)
    reasons: dict[int, str] = {}
    for i, img, reason in _decode_all(frame, config, workers, progress, manifest.name):
        if img is None:
            reasons[i] = reason
        else:
            images[i] = img
            ok[i] = True
    kept = frame[ok].reset_index(drop=True)
    rejected = pd.DataFrame({"path": frame["path"][~ok].to_numpy(),
                             "index": frame["index"][~ok].to_numpy(),
                             "reason": [reasons[i] for i in np.flatnonzero(~ok)]})
    rejected.to_csv(out / "rejected.csv", index=False)
    kept_manifest = Manifest(kept, manifest.name)
    try:
        kept_manifest.require_images("the files that decoded")
    except DataError as exc:
        # The build folder is about to be removed: keep the list where the user can read it.
        keep = out.parent / f"{out.name.lstrip('.').split('.tmp-')[0]}.rejected.csv"
        rejected.to_csv(keep, index=False)
        first = "; ".join(f"{r.path}: {r.reason}" for r in rejected.head(3).itertuples())
        raise DataError(f"{exc}; {len(rejected)} file(s) were rejected (all listed in {keep}), "
                        f"first: {first}") from exc
    if not ok.all():  # compact: keep only decoded rows
        compact = np.lib.format.open_memmap(out / "images.tmp.npy", mode="w+", dtype=np.uint8,
                                            shape=(len(kept), config.size, config.size))
        compact[:] = images[ok]
        compact.flush()
        del images, compact
        os.replace(out / "images.tmp.npy", out / "images.npy")
    else:
        images.flush()
        del images
    kept_manifest.to_csv(out / "manifest.csv")
    meta = {"name": manifest.name, "fingerprint": fp, "version": CACHE_VERSION,
            "config": asdict(config), "images": len(kept), "rejected": len(rejected),
            "seconds": round(time.perf_counter() - started, 2), "resolved_config": resolved}
    (out / "meta.json").write_text(json.dumps(meta, indent=2))


def _decode_all(frame: pd.DataFrame, config: PreprocessConfig, workers: int | None,
                progress: bool, name: str) -> Iterator[tuple[int, np.ndarray | None, str]]:
    from rich.progress import Progress

    arrays = frame["index"].to_numpy() >= 0
    files = np.flatnonzero(~arrays)
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"preparing {name}", total=len(frame))
        for path, rows in frame[arrays].groupby("path").groups.items():
            yield from _array_rows(str(path), frame.loc[rows, "index"].to_numpy(),
                                   np.asarray(rows), config)
            bar.advance(task, len(rows))
        jobs = [(int(i), frame["path"].iat[i]) for i in files]
        chunks = [jobs[k : k + _CHUNK] for k in range(0, len(jobs), _CHUNK)]
        n_workers = min(workers or os.cpu_count() or 1, max(1, len(chunks)))
        if n_workers <= 1 or len(jobs) < 2 * _CHUNK:
            for chunk in chunks:
                yield from _decode_chunk(chunk, config)
                bar.advance(task, len(chunk))
            return
        with ProcessPoolExecutor(n_workers, mp_context=get_context("spawn")) as pool:
            for result in pool.map(_decode_chunk, chunks, [config] * len(chunks)):
                yield from result
                bar.advance(task, len(result))


def _decode_chunk(chunk: list[tuple[int, str]], config: PreprocessConfig
                  ) -> list[tuple[int, np.ndarray | None, str]]:
    import cv2

    cv2.setNumThreads(1)
    out: list[tuple[int, np.ndarray | None, str]] = []
    for i, path in chunk:
        try:
            out.append((i, preprocess(decode(path), config), ""))
        except DecodeError as exc:
            out.append((i, None, str(exc)))
        except Exception as exc:  # a decoder crash on one file must not stop the build
            out.append((i, None, f"{type(exc).__name__}: {exc}"))
    return out


def _array_rows(path: str, index: np.ndarray, rows: np.ndarray, config: PreprocessConfig
                ) -> Iterator[tuple[int, np.ndarray | None, str]]:
    from medaug.data.sources.medmnist import load_npz_images

    stack = load_npz_images(path)
    if index.max() >= len(stack):
        raise DataError(f"{path}: manifest index {int(index.max())} beyond {len(stack)} images")
    for i, k in zip(rows, index, strict=True):
        yield int(i), preprocess(stack[k], config), ""


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "dataset"
