"""MedMNIST ``.npz`` files (PneumoniaMNIST first), read from ``MEDAUG_DATA_DIR``.

A file holds ``{train,val,test}_images`` ``(N, S, S)`` uint8 and ``{train,val,test}_labels``
``(N, 1)``. The Manifest's ``index`` is the row in the concatenation train, val, test (see
:func:`load_npz_images`). When the file is not found locally it is downloaded from the
official MedMNIST v2 record (Zenodo 10519652) and its official MD5 checked, only when a reader
asks for it, never at import time.

Before a file is loaded, every member's zip entry and ``.npy`` header are read (no array data,
nothing unpickled) and the file is refused when it would not fit a sane size: over
:data:`MAX_NPZ_BYTES` uncompressed, compressed more than :data:`MAX_NPZ_RATIO`:1 (a zip bomb:
3 MB on disk, 3.3 GB in memory), a header whose shape does not match the bytes stored, or
Python objects.

Reference: J. Yang et al., "MedMNIST v2", Scientific Data 10, 41 (2023).
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medaug.data.manifest import Manifest, Record
from medaug.errors import DataError
from medaug.paths import cache_dir, data_dir

SPLIT_ORDER: tuple[str, ...] = ("train", "val", "test")
_RECORD = "https://zenodo.org/records/10519652/files"


@dataclass(frozen=True)
class RemoteFile:
    """An official MedMNIST file and its published MD5."""

    filename: str
    url: str
    md5: str


# Official file names, addresses and MD5s of the MedMNIST v2 release (as listed by the
# medmnist package's INFO table, version 3.0.2).
MEDMNIST_FILES: dict[tuple[str, int], RemoteFile] = {
    ("pneumoniamnist", 28): RemoteFile(
        "pneumoniamnist.npz", f"{_RECORD}/pneumoniamnist.npz?download=1",
        "28209eda62fecd6e6a2d98b1501bb15f"),
    ("pneumoniamnist", 64): RemoteFile(
        "pneumoniamnist_64.npz", f"{_RECORD}/pneumoniamnist_64.npz?download=1",
        "8f4eceb4ccffa70c672198ea285246c6"),
    ("pneumoniamnist", 128): RemoteFile(
        "pneumoniamnist_128.npz", f"{_RECORD}/pneumoniamnist_128.npz?download=1",
        "05b46931834c231683c68f40c47b2971"),
    ("pneumoniamnist", 224): RemoteFile(
        "pneumoniamnist_224.npz", f"{_RECORD}/pneumoniamnist_224.npz?download=1",
        "d6a3c71de1b945ea11211b03746c1fe1"),
}
BODY_PART: dict[str, str] = {"pneumoniamnist": "chest"}
#: Largest total uncompressed size of a file's arrays (the biggest MedMNIST v2 file,
#: ChestMNIST at 224 px, holds 5.6 GB).
MAX_NPZ_BYTES = 8 << 30
#: Members larger than RATIO_CHECK_BYTES may be compressed at most MAX_NPZ_RATIO:1; X-ray
#: arrays compress about 1-3:1, deflate at most about 1032:1 (all zeros).
MAX_NPZ_RATIO = 100
RATIO_CHECK_BYTES = 256 << 20


def read_medmnist_npz(path: str | Path, flag: str = "pneumoniamnist") -> Manifest:
    """Read a MedMNIST ``.npz`` file with official splits.

    MedMNIST has no patient IDs; each image is its own patient (``<split>-<k>``).

    Raises:
        DataError: unreadable file, missing keys, or a label that is not binary.
    """
    path = Path(path)
    arrays = _open(path)
    records: list[Record] = []
    offset = 0
    for split in SPLIT_ORDER:
        labels = np.asarray(arrays[f"{split}_labels"]).reshape(-1)
        n = len(arrays[f"{split}_images"])
        if len(labels) != n:
            raise DataError(f"{path}: {split}_labels has {len(labels)} rows, images {n}")
        if not np.isin(labels, (0, 1)).all():
            raise DataError(f"{path}: {split}_labels is not binary 0/1; "
                            "only binary MedMNIST tasks are supported")
        for k in range(n):
            records.append(Record(path=str(path.resolve()), index=offset + k,
                                  label=int(labels[k]), patient_id=f"{split}-{k}",
                                  body_part=BODY_PART.get(flag, ""), split=split))
        offset += n
    return Manifest.from_records(records, flag).require_images(path)


def load_npz_images(path: str | Path) -> np.ndarray:
    """All images of a MedMNIST file, train then val then test: ``(N, S, S)`` uint8."""
    arrays = _open(Path(path))
    return np.concatenate([np.asarray(arrays[f"{s}_images"]) for s in SPLIT_ORDER])


def check_npz(path: Path) -> None:
    """Refuse a ``.npz`` file that would be too large, or could not load safely, from its zip
    entries and ``.npy`` headers alone (no array is read, nothing is unpickled).

    Raises:
        DataError: not a zip file; a member over :data:`MAX_NPZ_BYTES` (or all members
            together), compressed more than :data:`MAX_NPZ_RATIO`:1, with a header that does
            not match its size, or holding Python objects. The message names the file.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            for info in infos:
                _check_member(path, zf, info)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from exc
    total = sum(info.file_size for info in infos)
    if total > MAX_NPZ_BYTES:
        raise DataError(f"{path}: its arrays hold {_size(total)} uncompressed, over the "
                        f"{_size(MAX_NPZ_BYTES)} limit; not loaded")


def _check_member(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    name, size = info.filename, info.file_size
    if size > MAX_NPZ_BYTES:
        raise DataError(f"{path}: {name} holds {_size(size)} uncompressed, over the "
                        f"{_size(MAX_NPZ_BYTES)} limit; not loaded")
    ratio = size / max(info.compress_size, 1)
    if size > RATIO_CHECK_BYTES and ratio > MAX_NPZ_RATIO:
        raise DataError(f"{path}: {name} is compressed {ratio:.0f}:1, more than "
                        f"{MAX_NPZ_RATIO}:1 ({_size(size)} from {_size(info.compress_size)}); "
                        "not loaded (a zip bomb?)")
    if not name.endswith(".npy"):
        return
    with zf.open(info) as fh:
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError(f".npy format version {version} is not supported")
        except ValueError as exc:
            raise DataError(f"{path}: {name} has no readable .npy header ({exc})") from exc
        stored = size - fh.tell()
    if dtype.hasobject:
        raise DataError(f"{path}: {name} holds Python objects (dtype {dtype}), which would "
                        "need unpickling; not loaded")
    claimed = math.prod(shape) * dtype.itemsize
    if claimed != stored:
        raise DataError(f"{path}: {name} header says shape {tuple(shape)} {dtype} "
                        f"({claimed} bytes) but it holds {stored} bytes of data; not loaded")


def _size(n: int) -> str:
    return f"{n / 2**30:.4g} GiB" if n >= 2**30 else f"{n / 2**20:.4g} MiB"


def _open(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DataError(f"MedMNIST file {path} does not exist")
    check_npz(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # zip and pickle errors of damaged files
        raise DataError(f"{path}: not a readable .npz file ({exc})") from exc
    need = [f"{s}_{k}" for s in SPLIT_ORDER for k in ("images", "labels")]
    missing = [k for k in need if k not in arrays]
    if missing:
        raise DataError(f"{path}: missing array(s) {', '.join(missing)}")
    for s in SPLIT_ORDER:
        img = arrays[f"{s}_images"]
        if img.ndim != 3 or img.dtype != np.uint8:
            raise DataError(f"{path}: {s}_images must be (N, S, S) uint8 grayscale, "
                            f"got {img.shape} {img.dtype}")
    return arrays


def locate_medmnist(flag: str = "pneumoniamnist", size: int = 28, download: bool = True) -> Path:
    """Find a MedMNIST file under ``MEDAUG_DATA_DIR`` (``<dir>/<flag>/<file>`` or
    ``<dir>/<file>``) or in the cache; otherwise download it (when ``download``) and check
    its MD5.

    Raises:
        DataError: unknown flag/size, file missing with ``download=False``, a failed download,
            or a checksum mismatch (the bad file is deleted).
    """
    key = (flag, size)
    if key not in MEDMNIST_FILES:
        known = ", ".join(f"{f}:{s}" for f, s in MEDMNIST_FILES)
        raise DataError(f"unknown MedMNIST file {flag}:{size}; known: {known}")
    remote = MEDMNIST_FILES[key]
    candidates = []
    root = data_dir()
    if root is not None:
        candidates += [root / flag / remote.filename, root / remote.filename]
    cached = cache_dir() / "downloads" / remote.filename
    candidates.append(cached)
    for c in candidates:
        if c.is_file():
            return c
    if not download:
        raise DataError(f"{remote.filename} not found (looked in "
                        f"{', '.join(map(str, candidates))}); set MEDAUG_DATA_DIR")
    download_file(remote.url, cached, remote.md5)
    return cached


def download_file(url: str, dest: Path, md5: str) -> Path:
    """Download ``url`` to ``dest`` atomically and check its MD5; a mismatch is an error."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".part")
    digest = hashlib.md5()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            while chunk := resp.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != md5:
            raise DataError(f"download of {url} has MD5 {digest.hexdigest()}, expected {md5}; "
                            "the file was discarded")
        os.replace(tmp, dest)
    except OSError as exc:
        raise DataError(f"cannot download {url}: {exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest
