"""MedMNIST npz: official splits, array index, finding the file, checked download (no network)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from medaug.data.sources import medmnist
from medaug.data.sources.medmnist import (
    MEDMNIST_FILES,
    download_file,
    load_npz_images,
    locate_medmnist,
    read_medmnist_npz,
)
from medaug.errors import DataError

SIZES = {"train": 5, "val": 2, "test": 3}


def write_npz(path: Path, sizes: dict[str, int] = SIZES, **override: np.ndarray) -> Path:
    """A tiny MedMNIST-format file: image ``k`` overall is filled with value ``k``; labels
    alternate 0/1 within each split."""
    arrays: dict[str, np.ndarray] = {}
    k = 0
    for split, n in sizes.items():
        arrays[f"{split}_images"] = np.stack(
            [np.full((8, 8), k + j, np.uint8) for j in range(n)])
        arrays[f"{split}_labels"] = (np.arange(n) % 2).reshape(n, 1).astype(np.uint8)
        k += n
    arrays.update(override)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def test_official_splits_kept_and_index_is_offset(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "pneumoniamnist.npz")
    m = read_medmnist_npz(path)
    assert m.name == "pneumoniamnist"
    assert m.frame.groupby("split").size().to_dict() == {"train": 5, "val": 2, "test": 3}
    assert m.frame["index"].tolist() == list(range(10))
    assert m.frame["split"].tolist() == ["train"] * 5 + ["val"] * 2 + ["test"] * 3
    assert m.labels == [0, 1, 0, 1, 0, 0, 1, 0, 1, 0]
    assert m.frame["patient_id"].tolist()[5:7] == ["val-0", "val-1"]
    assert m.frame["patient_id"].nunique() == 10
    assert set(m.frame["body_part"]) == {"chest"}
    assert set(m.frame["path"]) == {str(path.resolve())}


def test_load_npz_images_agrees_with_index(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "x.npz")
    m = read_medmnist_npz(path, "other")
    stack = load_npz_images(path)
    assert stack.shape == (10, 8, 8)
    assert stack.dtype == np.uint8
    for row in m.frame.itertuples():
        assert (stack[row.index] == row.index).all()  # image k holds value k
    assert set(m.frame["body_part"]) == {""}


def test_non_binary_labels_raise(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "multi.npz",
                     val_labels=np.array([[0], [2]], dtype=np.uint8))
    with pytest.raises(DataError, match="val_labels is not binary"):
        read_medmnist_npz(path)


def test_missing_key_raises(tmp_path: Path) -> None:
    path = tmp_path / "nokey.npz"
    np.savez(path, train_images=np.zeros((2, 8, 8), np.uint8),
             train_labels=np.array([[0], [1]]))
    with pytest.raises(DataError, match=r"missing array.*val_images"):
        read_medmnist_npz(path)


def test_label_count_mismatch_raises(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "mismatch.npz", test_labels=np.array([[0], [1]]))
    with pytest.raises(DataError, match="test_labels has 2 rows, images 3"):
        read_medmnist_npz(path)


def test_colour_images_raise(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "rgb.npz", train_images=np.zeros((5, 8, 8, 3), np.uint8))
    with pytest.raises(DataError, match=r"train_images must be \(N, S, S\) uint8"):
        read_medmnist_npz(path)


def test_damaged_and_missing_files_raise(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match=r"not a readable \.npz"):
        read_medmnist_npz(bad)
    with pytest.raises(DataError, match="does not exist"):
        load_npz_images(tmp_path / "none.npz")


# ---------------------------------------------------------------------- zip bombs
def _no_load(*args: object, **kwargs: object) -> None:
    raise AssertionError("np.load must not be reached")


def _bomb(path: Path, rows: int = 1024) -> Path:
    """A compressed MedMNIST-shaped file whose train_images are ``rows`` black 64x64 images
    (4 MiB for 1024 rows, a few KB on disk)."""
    arrays = {f"{s}_images": np.zeros((2, 8, 8), np.uint8) for s in ("val", "test")}
    arrays["train_images"] = np.zeros((rows, 64, 64), np.uint8)
    for s, n in (("train", rows), ("val", 2), ("test", 2)):
        arrays[f"{s}_labels"] = (np.arange(n) % 2).reshape(n, 1).astype(np.uint8)
    np.savez_compressed(path, **arrays)
    return path


def test_npz_over_the_size_cap_is_refused_before_loading(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    path = _bomb(tmp_path / "bomb.npz")
    assert path.stat().st_size < 200_000
    monkeypatch.setattr(medmnist, "MAX_NPZ_BYTES", 1 << 20, raising=False)
    monkeypatch.setattr(np, "load", _no_load)
    with pytest.raises(DataError) as exc:
        read_medmnist_npz(path)
    message = str(exc.value)
    assert message.startswith(f"{path}: train_images.npy")
    assert "uncompressed" in message and "over the 1 MiB limit" in message
    assert "\n" not in message


def test_npz_compression_ratio_bomb_is_refused(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = _bomb(tmp_path / "ratio.npz")
    monkeypatch.setattr(medmnist, "RATIO_CHECK_BYTES", 1 << 20, raising=False)
    monkeypatch.setattr(np, "load", _no_load)
    with pytest.raises(DataError, match=r"train_images\.npy .*compressed \d+:1, more than "
                                        r"100:1"):
        load_npz_images(path)


def test_npz_header_claiming_more_than_stored_is_refused(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    source = write_npz(tmp_path / "good.npz")
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (100_000, 224, 224)})
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(source) as good, zipfile.ZipFile(path, "w") as liar:
        for name in good.namelist():  # the same file, but train_images' header lies
            data = good.read(name)
            liar.writestr(name, header.getvalue() + bytes(16) if name == "train_images.npy"
                          else data)
    monkeypatch.setattr(np, "load", _no_load)
    with pytest.raises(DataError) as exc:
        read_medmnist_npz(path)
    message = str(exc.value)
    assert message.startswith(f"{path}: train_images.npy")
    assert "(100000, 224, 224)" in message and "16 bytes" in message


def test_npz_object_arrays_are_refused_without_unpickling(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    path = write_npz(tmp_path / "pickled.npz",
                     train_labels=np.array([[0], [1], [0], [1], [0]], dtype=object))
    monkeypatch.setattr(np, "load", _no_load)
    with pytest.raises(DataError, match=r"train_labels\.npy holds Python objects"):
        read_medmnist_npz(path)


# ---------------------------------------------------------------------- locate / download
@pytest.fixture
def empty_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point data and cache folders at empty temporary folders."""
    monkeypatch.setenv("MEDAUG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MEDAUG_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "data").mkdir()
    return tmp_path


def test_locate_finds_file_under_data_dir(empty_dirs: Path) -> None:
    path = write_npz(empty_dirs / "data" / "pneumoniamnist" / "pneumoniamnist.npz")
    assert locate_medmnist("pneumoniamnist", 28, download=False) == path


def test_locate_finds_file_at_data_dir_top(empty_dirs: Path) -> None:
    path = write_npz(empty_dirs / "data" / "pneumoniamnist_64.npz")
    assert locate_medmnist("pneumoniamnist", 64, download=False) == path


def test_locate_without_file_and_no_download_names_places(empty_dirs: Path) -> None:
    with pytest.raises(DataError, match=r"pneumoniamnist\.npz not found") as exc:
        locate_medmnist("pneumoniamnist", 28, download=False)
    message = str(exc.value)
    assert str(empty_dirs / "data" / "pneumoniamnist" / "pneumoniamnist.npz") in message
    assert str(empty_dirs / "cache" / "downloads" / "pneumoniamnist.npz") in message


def test_locate_downloads_into_cache_when_missing(empty_dirs: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_download(url: str, dest: Path, md5: str) -> Path:
        calls.append((url, dest, md5))
        write_npz(dest)
        return dest

    monkeypatch.setattr("medaug.data.sources.medmnist.download_file", fake_download)
    path = locate_medmnist("pneumoniamnist", 28)
    remote = MEDMNIST_FILES[("pneumoniamnist", 28)]
    assert calls == [(remote.url, empty_dirs / "cache" / "downloads" / "pneumoniamnist.npz",
                      remote.md5)]
    assert path.is_file()
    assert locate_medmnist("pneumoniamnist", 28, download=False) == path  # now found


@pytest.mark.parametrize(("flag", "size"), [("pneumoniamnist", 32), ("chestmnist", 28)])
def test_unknown_file_raises(flag: str, size: int) -> None:
    with pytest.raises(DataError, match=f"unknown MedMNIST file {flag}:{size}; known:"):
        locate_medmnist(flag, size, download=False)


def test_download_file_url_with_right_md5(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"medmnist bytes" * 1000)
    dest = tmp_path / "out" / "file.npz"
    md5 = hashlib.md5(src.read_bytes()).hexdigest()
    assert download_file(src.as_uri(), dest, md5) == dest
    assert dest.read_bytes() == src.read_bytes()
    assert [p.name for p in dest.parent.iterdir()] == ["file.npz"]  # no .part left


def test_download_file_wrong_md5_leaves_nothing(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"medmnist bytes")
    dest = tmp_path / "out" / "file.npz"
    with pytest.raises(DataError, match=r"has MD5 .*expected 0+; the file was discarded"):
        download_file(src.as_uri(), dest, "0" * 32)
    assert list(dest.parent.iterdir()) == []


def test_download_file_unreachable_url_raises(tmp_path: Path) -> None:
    dest = tmp_path / "out" / "file.npz"
    with pytest.raises(DataError, match="cannot download"):
        download_file((tmp_path / "missing.bin").as_uri(), dest, "0" * 32)
    assert list(dest.parent.iterdir()) == []
