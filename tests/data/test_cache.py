"""The cache: rows align with images, reuse, rebuild on change, bad files listed, atomic build."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from cache_trees import PLAIN, constant_png, make_tree, value_of

from medaug.data import cache as cache_mod
from medaug.data.cache import build_cache, fingerprint, open_cache
from medaug.data.manifest import Manifest
from medaug.data.preprocess import PreprocessConfig
from medaug.data.sources.folder import read_folder
from medaug.data.sources.medmnist import read_medmnist_npz
from medaug.errors import DataError, LeakageError


def _build(manifest: Manifest, root: Path, config: PreprocessConfig = PLAIN, **kw):
    return build_cache(manifest, config, root=root, workers=kw.pop("workers", 1),
                       progress=False, **kw)


def test_build_shapes_and_rows_align_with_images(tmp_path: Path) -> None:
    m = read_folder(make_tree(tmp_path / "tree"))
    c = _build(m, tmp_path / "cache")
    assert not c.reused
    assert c.images.shape == (6, 8, 8)
    assert c.images.dtype == np.uint8
    assert isinstance(c.images, np.memmap)
    assert len(c) == 6
    assert len(c.rejected) == 0
    for i, path in enumerate(c.manifest.frame["path"]):
        assert (c.images[i] == value_of(path)).all(), path
    pd.testing.assert_frame_equal(c.manifest.frame, m.frame, check_dtype=False)
    assert c.config == PLAIN
    assert c.root.parent == tmp_path / "cache"
    assert c.root.name.startswith("tree-8px-noclahe-")
    assert {p.name for p in c.root.iterdir()} == {"images.npy", "manifest.csv", "rejected.csv",
                                                   "meta.json"}


def test_resize_applied_in_cache(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    constant_png(root / "normal" / "v100.png", 100, size=32)
    constant_png(root / "abnormal" / "v200.png", 200, size=32)
    c = _build(read_folder(root), tmp_path / "cache", PreprocessConfig(size=16, clahe=False))
    assert c.images.shape == (2, 16, 16)
    for i, path in enumerate(c.manifest.frame["path"]):
        assert (c.images[i] == value_of(path)).all()


def test_split_indices(tmp_path: Path) -> None:
    m = read_folder(make_tree(tmp_path / "tree"))
    frame = m.frame.assign(split=["train", "test", "train", "val", "train", "test"])
    c = _build(m.with_frame(frame), tmp_path / "cache")
    assert c.split_indices("train").tolist() == [0, 2, 4]
    assert c.split_indices("test").tolist() == [1, 5]


def test_second_call_reuses(tmp_path: Path) -> None:
    m = read_folder(make_tree(tmp_path / "tree"))
    first = _build(m, tmp_path / "cache")
    second = _build(m, tmp_path / "cache")
    assert second.reused
    assert second.root == first.root
    assert second.fingerprint == first.fingerprint
    np.testing.assert_array_equal(second.images, first.images)
    assert len(list((tmp_path / "cache").iterdir())) == 1


def test_open_cache_reads_a_built_folder(tmp_path: Path) -> None:
    c = _build(read_folder(make_tree(tmp_path / "tree")), tmp_path / "cache")
    again = open_cache(c.root)
    assert again.manifest.frame["path"].tolist() == c.manifest.frame["path"].tolist()
    assert again.config == PLAIN
    assert not again.reused


BASE = PreprocessConfig(size=8, clahe=True, clip_limit=2.0, tile_grid=8)


@pytest.mark.parametrize("config", [PreprocessConfig(size=16, clahe=True),
                                    PreprocessConfig(size=8, clahe=False),
                                    PreprocessConfig(size=8, clahe=True, clip_limit=3.0),
                                    PreprocessConfig(size=8, clahe=True, tile_grid=2)],
                         ids=["size", "clahe", "clip_limit", "tile_grid"])
def test_changed_parameter_gives_new_folder_and_keeps_old(tmp_path: Path,
                                                          config: PreprocessConfig) -> None:
    m = read_folder(make_tree(tmp_path / "tree"))
    base = _build(m, tmp_path / "cache", BASE)
    other = _build(m, tmp_path / "cache", config)
    assert not other.reused
    assert other.root != base.root
    assert other.fingerprint != base.fingerprint
    assert (base.root / "meta.json").is_file()  # the old variant stays
    assert (other.root / "meta.json").is_file()
    assert other.config == config
    assert _build(m, tmp_path / "cache", BASE).reused  # and is still found


def test_modified_input_file_rebuilds(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    m = read_folder(tree)
    first = _build(m, tmp_path / "cache")
    target = tree / "normal" / "v000.png"
    constant_png(target, 77, size=12)  # new content and size
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    second = _build(m, tmp_path / "cache")
    assert not second.reused
    assert second.root != first.root
    row = second.manifest.frame["path"].tolist().index(str(target.resolve()))
    assert (second.images[row] == 77).all()  # 12 px resized to 8: still constant
    assert (first.images[row] == 0).all()  # the old cache is untouched


def test_touched_input_file_changes_fingerprint(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    m = read_folder(tree)
    before = fingerprint(m, PLAIN)
    target = tree / "abnormal" / "v010.png"
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert fingerprint(m, PLAIN) != before


def test_manifest_change_changes_fingerprint(tmp_path: Path) -> None:
    m = read_folder(make_tree(tmp_path / "tree"))
    relabelled = m.with_frame(m.frame.assign(split="train"))
    assert fingerprint(relabelled, PLAIN) != fingerprint(m, PLAIN)


def _bad_files(folder: Path) -> dict[str, str]:
    """Every kind of bad file in ``folder``; returns name -> expected reason fragment."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zero.png").write_bytes(b"")
    ok, png = cv2.imencode(".png", np.random.default_rng(0).integers(0, 256, (16, 16),
                                                                    dtype=np.uint8))
    assert ok
    (folder / "cut.png").write_bytes(png.tobytes()[: len(png) // 2])
    ok, jpg = cv2.imencode(".jpg", np.random.default_rng(1).integers(0, 256, (16, 16),
                                                                    dtype=np.uint8))
    assert ok
    (folder / "cut.jpg").write_bytes(jpg.tobytes()[: len(jpg) // 2])
    (folder / "text.png").write_text("just some words\n")
    (folder / "fake.dcm").write_text("not dicom")
    (folder / "dir.png").mkdir()  # not a file: never listed
    return {"zero.png": "zero-byte", "cut.png": "truncated", "cut.jpg": "truncated",
            "text.png": "", "fake.dcm": "DICOM"}


def test_bad_files_are_skipped_and_listed(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    expected = _bad_files(tree / "abnormal")
    m = read_folder(tree)
    assert len(m) == 6 + len(expected)  # listed by the reader
    assert "dir.png" not in {Path(p).name for p in m.frame["path"]}
    c = _build(m, tmp_path / "cache")
    assert len(c) == 6
    for i, path in enumerate(c.manifest.frame["path"]):
        assert (c.images[i] == value_of(path)).all()  # compaction kept alignment
    rejected = pd.read_csv(c.root / "rejected.csv", keep_default_na=False)
    assert list(rejected.columns) == ["path", "index", "reason", "category"]
    reasons = dict(zip(rejected["path"].map(lambda p: Path(p).name), rejected["reason"],
                       strict=True))
    assert set(reasons) == set(expected)
    for name, fragment in expected.items():
        assert reasons[name], name
        assert fragment in reasons[name], (name, reasons[name])
    assert all(Path(p).is_absolute() for p in rejected["path"])
    assert len(c.rejected) == len(expected)


def test_all_files_of_a_class_bad_raises_naming_class(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    for k in range(2):
        constant_png(tree / "normal" / f"v{k}.png", 10)
    _bad_files(tree / "abnormal")
    with pytest.raises(DataError, match=r"class 1 \(abnormal\) has no images") as exc:
        _build(read_folder(tree), tmp_path / "cache")
    assert "rejected.csv" in str(exc.value)
    left = list((tmp_path / "cache").iterdir())
    # Nothing half-built is left behind, only the list of rejected files the error names.
    assert [p for p in left if p.is_dir()] == []
    assert [p.name for p in left] == [Path(str(exc.value).split("all listed in ")[1]
                                           .split(")")[0]).name]


def test_rejected_list_named_in_error_survives(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    constant_png(tree / "normal" / "v0.png", 10)
    (tree / "abnormal").mkdir()
    (tree / "abnormal" / "zero.png").write_bytes(b"")
    with pytest.raises(DataError) as exc:
        _build(read_folder(tree), tmp_path / "cache")
    survivors = list((tmp_path / "cache").glob("*rejected.csv"))
    assert "zero.png" in str(exc.value)
    assert len(survivors) == 1 and "zero.png" in survivors[0].read_text()


def test_interrupted_build_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    m = read_folder(make_tree(tmp_path / "tree"))

    def boom(*args: object, **kwargs: object) -> None:
        out = args[2]
        assert isinstance(out, Path)
        (out / "images.npy").write_bytes(b"partial")  # something half-written
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_mod, "_build", boom)
    with pytest.raises(KeyboardInterrupt):
        _build(m, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []
    monkeypatch.undo()
    c = _build(m, tmp_path / "cache")  # a later build works and is not a "reuse"
    assert not c.reused
    assert len(c) == 6


def test_npz_rows_cached_through_array_path(tmp_path: Path) -> None:
    path = tmp_path / "tiny.npz"
    sizes = {"train": 4, "val": 2, "test": 2}
    arrays = {}
    k = 0
    for split, n in sizes.items():
        arrays[f"{split}_images"] = np.stack([np.full((8, 8), 10 * (k + j), np.uint8)
                                              for j in range(n)])
        arrays[f"{split}_labels"] = (np.arange(n) % 2).reshape(n, 1)
        k += n
    np.savez(path, **arrays)
    m = read_medmnist_npz(path, "tiny")
    # a subset in shuffled order: rows must follow the manifest, not the file
    m = m.with_frame(m.frame.iloc[[6, 1, 3, 0, 7]].reset_index(drop=True))
    c = _build(m, tmp_path / "cache")
    assert c.images.shape == (5, 8, 8)
    for i, idx in enumerate(c.manifest.frame["index"]):
        assert (c.images[i] == 10 * idx).all()
    assert c.manifest.frame["index"].tolist() == [6, 1, 3, 0, 7]


def test_npz_index_beyond_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "tiny.npz"
    np.savez(path, **{f"{s}_images": np.zeros((2, 8, 8), np.uint8) for s in
                      ("train", "val", "test")},
             **{f"{s}_labels": np.array([[0], [1]]) for s in ("train", "val", "test")})
    m = read_medmnist_npz(path, "tiny")
    m = m.with_frame(m.frame.assign(index=m.frame["index"] + 1))
    with pytest.raises(DataError, match="manifest index 6 beyond 6 images"):
        _build(m, tmp_path / "cache")


def test_process_pool_build_keeps_rows_aligned(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "tree"
    n = 130  # > 2 chunks of 64: decoded by a pool of 2 processes
    for k in range(n):
        cls = "normal" if k % 2 == 0 else "abnormal"
        constant_png(root / cls / f"v{k:03d}.png", k)
    (root / "abnormal" / "zero.png").write_bytes(b"")
    pools: list[int] = []

    class CountingPool(cache_mod.ProcessPoolExecutor):
        def __init__(self, workers: int, **kwargs: object) -> None:
            pools.append(workers)
            super().__init__(workers, **kwargs)

    monkeypatch.setattr(cache_mod, "ProcessPoolExecutor", CountingPool)
    c = _build(read_folder(root), tmp_path / "cache", workers=2)
    assert pools == [2]
    assert c.images.shape == (n, 8, 8)
    for i, path in enumerate(c.manifest.frame["path"]):
        assert (c.images[i] == value_of(path)).all()
    assert c.rejected["path"].map(lambda p: Path(p).name).tolist() == ["zero.png"]


def test_build_refuses_a_leaking_manifest(tmp_path: Path) -> None:
    m = read_folder(make_tree(tmp_path / "tree"))
    frame = m.frame.copy()
    frame["patient_id"] = "same-patient"
    frame["split"] = ["train", "test"] * (len(frame) // 2) + ["train"] * (len(frame) % 2)
    with pytest.raises(LeakageError, match="same-patient"):
        _build(m.with_frame(frame), tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_rejection_summary_counts_categories_most_common_first(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    _bad_files(tree / "abnormal")  # zero-byte, 2 truncated, text.png, fake.dcm
    constant_png(tree / "normal" / "dot.png", 5, size=1)  # 1x1: too small
    constant_png(tree / "normal" / "speck.png", 5, size=3)  # 3x3: too small
    (tree / "normal" / "cut2.png").write_bytes(
        (tree / "normal" / "v000.png").read_bytes()[:40])
    c = _build(read_folder(tree), tmp_path / "cache")
    summary = c.rejection_summary()
    assert summary == [("truncated", 3), ("too small", 2), ("not DICOM", 1),
                       ("not an image", 1), ("zero-byte", 1)]
    assert sum(n for _, n in summary) == len(c.rejected)
    assert _build(read_folder(tree), tmp_path / "cache").rejection_summary() == summary
    assert open_cache(c.root).rejection_summary() == summary


def test_rejection_summary_of_a_clean_cache_is_empty(tmp_path: Path) -> None:
    c = _build(read_folder(make_tree(tmp_path / "tree")), tmp_path / "cache")
    assert c.rejection_summary() == []
