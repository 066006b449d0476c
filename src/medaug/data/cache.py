"""Build once, read many: decoded, CLAHE'd, resized images in a ``uint8`` memory map.

A cache folder holds ``images.npy`` ``(N, S, S)`` uint8 (opened memory-mapped), the Manifest
of the images it holds (``manifest.csv``, row ``i`` <-> ``images[i]``), ``rejected.csv``
(path, index, reason and reason category of every file that did not decode) and
``meta.json`` (parameters, counts, fingerprint). Its name ends with a fingerprint of every
input file (path, size, modification time), every Manifest row and every parameter: a second
call reuses it, a changed file or parameter makes a new one, and variants (with and without
CLAHE, several sizes) live side by side.

A cache is built in a temporary folder and renamed into place when complete, so an
interrupted build leaves nothing half-written; the build folder of a killed build is removed
by the next build (:mod:`medaug.data.cache_folders`), and its decode workers die with it
(:mod:`medaug.data.workers`). A damaged cache folder (a file missing or cut short) is rebuilt
when reused, and refused with a one-line error by :func:`open_cache`.
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

from medaug.data import cache_folders
from medaug.data.manifest import Manifest
from medaug.data.preprocess import DecodeError, PreprocessConfig, decode, preprocess
from medaug.data.splits import check_leakage
from medaug.data.workers import die_with_parent
from medaug.errors import DataError
from medaug.paths import cache_dir

# 2: rejected.csv has a category column; files with bytes after their end marker decode, and
# images under 8 px or over 100 megapixels are rejected.
CACHE_VERSION = 2
_CHUNK = 64
_REJECTED_COLUMNS = ("path", "index", "reason", "category")


class DamagedCacheError(DataError):
    """A cache folder is incomplete or inconsistent (a file missing, cut short or garbled)."""

    def __init__(self, folder: Path, reason: str) -> None:
        super().__init__(f"cache folder {folder} is damaged ({reason}); delete it (the next "
                         "build makes it again)")
        self.folder = folder


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

    def rejection_summary(self) -> list[tuple[str, int]]:
        """Rejected files per reason category, most common first (ties by name), e.g.
        ``[("truncated", 4), ("too small", 2)]``; ``[]`` when nothing was rejected."""
        return count_rejections(self.rejected)


def count_rejections(rejected: pd.DataFrame) -> list[tuple[str, int]]:
    """Rows of a ``rejected.csv`` table per category, most common first (ties by name).

    Tables without a ``category`` column (caches of version 1) are counted by the text of the
    reason before its first ``:`` or ``(``.
    """
    if len(rejected) == 0:
        return []
    if "category" in rejected.columns:
        categories = rejected["category"].astype(str)
    else:
        categories = rejected["reason"].astype(str).map(
            lambda r: r.split(":", 1)[0].split(" (", 1)[0].strip())
    counts = categories.value_counts()
    return sorted(((str(k), int(v)) for k, v in counts.items()), key=lambda kv: (-kv[1], kv[0]))


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

    A damaged cache folder of the same fingerprint is rebuilt, and build folders left by
    killed builds are removed.

    Raises:
        DataError: no image decoded, or a class left empty after rejections (the message
            names ``rejected.csv``); a cache root that is not a folder.
        LeakageError: a patient or study of ``manifest`` is in two splits.
    """
    check_leakage(manifest)  # also for Manifests that did not come through assign_splits
    root = Path(root) if root is not None else cache_dir()
    fp = fingerprint(manifest, config)
    folder = root / f"{_safe(manifest.name)}-{config.tag()}-{fp[:12]}"
    cache_folders.remove_stale(root)
    if folder.exists():
        try:
            return open_cache(folder, reused=True)
        except DamagedCacheError:
            pass  # rebuilt below; _install replaces it
    tmp = cache_folders.build_folder(folder)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
    except OSError as exc:
        raise DataError(f"cannot make the cache build folder {tmp}: {exc.strerror or exc}"
                        ) from exc
    try:
        _build(manifest, config, tmp, fp, workers, progress, resolved)
        _install(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return open_cache(folder)


def _install(tmp: Path, folder: Path) -> None:
    """Rename the finished build folder ``tmp`` to ``folder``, unless another process
    finished the same cache first; a damaged ``folder`` is discarded first. Runs under the
    cache root's lock, so a folder found complete here is never discarded by another."""
    with cache_folders.locked(folder.parent):
        if folder.exists():
            try:
                open_cache(folder)
                return  # another process finished the same cache first
            except DamagedCacheError:
                cache_folders.discard(folder)
        os.replace(tmp, folder)


def open_cache(folder: Path, reused: bool = False) -> CachedDataset:
    """Open a finished cache folder, checking that its files are complete and agree.

    Raises:
        DamagedCacheError: a file missing, cut short or garbled, or images and manifest of
            different lengths (a :class:`DataError`; the message says to delete the folder).
    """
    folder = Path(folder)
    try:
        meta = json.loads((folder / "meta.json").read_text())
        images = np.load(folder / "images.npy", mmap_mode="r")
        manifest = Manifest.read_csv(folder / "manifest.csv", name=meta["name"])
        rejected = pd.read_csv(folder / "rejected.csv", dtype={"path": str, "reason": str},
                               keep_default_na=False)
        config = PreprocessConfig(**meta["config"])
        expected = (int(meta["images"]), config.size, config.size)
        fp = str(meta["fingerprint"])
    except Exception as exc:  # whatever a missing, cut or garbled file raises
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise DamagedCacheError(folder, reason) from exc
    if images.shape != expected or len(manifest) != expected[0]:
        raise DamagedCacheError(folder, f"images.npy is {images.shape}, manifest.csv has "
                                f"{len(manifest)} rows, meta.json says {expected}")
    return CachedDataset(folder, images, manifest, rejected, config, fp, reused)


def _build(manifest: Manifest, config: PreprocessConfig, out: Path, fp: str,
           workers: int | None, progress: bool, resolved: dict | None = None) -> None:
    frame = manifest.frame
    n = len(frame)
    started = time.perf_counter()
    images = np.lib.format.open_memmap(out / "images.npy", mode="w+", dtype=np.uint8,
                                       shape=(n, config.size, config.size))
    ok = np.zeros(n, dtype=bool)
    reasons: dict[int, tuple[str, str]] = {}
    for i, img, reason, category in _decode_all(frame, config, workers, progress,
                                                manifest.name):
        if img is None:
            reasons[i] = (reason, category)
        else:
            images[i] = img
            ok[i] = True
    kept = frame[ok].reset_index(drop=True)
    bad = np.flatnonzero(~ok)
    rejected = pd.DataFrame({"path": frame["path"][~ok].to_numpy(),
                             "index": frame["index"][~ok].to_numpy(),
                             "reason": [reasons[i][0] for i in bad],
                             "category": [reasons[i][1] for i in bad]},
                            columns=list(_REJECTED_COLUMNS))
    rejected.to_csv(out / "rejected.csv", index=False)
    kept_manifest = Manifest(kept, manifest.name)
    try:
        kept_manifest.require_images("the files that decoded")
    except DataError as exc:
        # The build folder is about to be removed: keep the list where the user can read it.
        keep = out.parent / f"{out.name.lstrip('.').split('.tmp-')[0]}.rejected.csv"
        rejected.to_csv(keep, index=False)
        first = "; ".join(f"{r.path}: {r.reason}" for r in rejected.head(3).itertuples())
        kinds = ", ".join(f"{k} {c}" for c, k in count_rejections(rejected))
        raise DataError(f"{exc}; {len(rejected)} file(s) were rejected ({kinds}; all listed in "
                        f"{keep}), first: {first}") from exc
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


_Decoded = tuple[int, np.ndarray | None, str, str]  # row, image or None, reason, category


def _decode_all(frame: pd.DataFrame, config: PreprocessConfig, workers: int | None,
                progress: bool, name: str) -> Iterator[_Decoded]:
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
        with ProcessPoolExecutor(n_workers, mp_context=get_context("spawn"),
                                 initializer=die_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            for result in pool.map(_decode_chunk, chunks, [config] * len(chunks)):
                yield from result
                bar.advance(task, len(result))


def _decode_chunk(chunk: list[tuple[int, str]], config: PreprocessConfig) -> list[_Decoded]:
    import cv2

    cv2.setNumThreads(1)
    out: list[_Decoded] = []
    for i, path in chunk:
        try:
            out.append((i, preprocess(decode(path), config), "", ""))
        except DecodeError as exc:
            out.append((i, None, " ".join(str(exc).split()), exc.category))
        except Exception as exc:  # a decoder crash on one file must not stop the build
            out.append((i, None, " ".join(f"{type(exc).__name__}: {exc}".split()),
                        "decoder error"))
    return out


def _array_rows(path: str, index: np.ndarray, rows: np.ndarray, config: PreprocessConfig
                ) -> Iterator[_Decoded]:
    from medaug.data.sources.medmnist import load_npz_images

    stack = load_npz_images(path)
    if index.max() >= len(stack):
        raise DataError(f"{path}: manifest index {int(index.max())} beyond {len(stack)} images")
    for i, k in zip(rows, index, strict=True):
        yield int(i), preprocess(stack[k], config), "", ""


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "dataset"
