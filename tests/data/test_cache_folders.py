"""Cache folder housekeeping: damaged folders rebuilt, stale build folders of dead processes
removed, live ones kept, a cache root that is a file refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cache_trees import PLAIN, make_tree, value_of

from medaug.data import cache_folders
from medaug.data.cache import _install, build_cache, open_cache
from medaug.data.sources.folder import read_folder
from medaug.errors import DataError
from medaug.paths import cache_dir


def _build(root: Path, tree: Path):
    return build_cache(read_folder(tree), PLAIN, root=root, workers=1, progress=False)


def _hidden(root: Path) -> list[str]:
    """Build or discarded folders left in ``root`` (lock files do not count)."""
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".") and p.is_dir())


def _check_rows(cache) -> None:
    assert len(cache.images) == len(cache.manifest) == 6
    for i, path in enumerate(cache.manifest.frame["path"]):
        assert (cache.images[i] == value_of(path)).all()


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ---------------------------------------------------------------------- damaged folders
def test_missing_meta_json_is_rebuilt(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    first = _build(tmp_path / "cache", tree)
    (first.root / "meta.json").unlink()
    second = _build(tmp_path / "cache", tree)
    assert not second.reused
    assert second.root == first.root
    assert (second.root / "meta.json").is_file()
    _check_rows(second)
    assert _hidden(tmp_path / "cache") == []
    assert _build(tmp_path / "cache", tree).reused


def test_truncated_images_npy_is_rebuilt(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    first = _build(tmp_path / "cache", tree)
    images = first.root / "images.npy"
    data = images.read_bytes()
    del first
    images.write_bytes(data[: len(data) // 2])
    second = _build(tmp_path / "cache", tree)
    assert not second.reused
    _check_rows(second)
    assert _hidden(tmp_path / "cache") == []


@pytest.mark.parametrize("damage", ["meta.json", "images.npy", "manifest.csv", "rows"])
def test_open_cache_on_a_damaged_folder_is_one_line(tmp_path: Path, damage: str) -> None:
    c = _build(tmp_path / "cache", make_tree(tmp_path / "tree"))
    if damage == "rows":  # a manifest that no longer matches the images
        lines = (c.root / "manifest.csv").read_text().splitlines()
        (c.root / "manifest.csv").write_text("\n".join(lines[:-2]) + "\n")
    elif damage == "images.npy":
        (c.root / damage).write_bytes(b"\x93NUMPY garbage")
    else:
        (c.root / damage).unlink()
    with pytest.raises(DataError) as exc:
        open_cache(c.root)
    message = str(exc.value)
    assert message.startswith(f"cache folder {c.root} is damaged")
    assert "delete it" in message
    assert "\n" not in message


# ---------------------------------------------------------------------- stale build folders
def test_stale_build_folder_of_a_dead_process_is_removed(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    stale = root / f".tree-8px-noclahe-0123456789ab.tmp-{_dead_pid()}"  # as a killed build
    stale.mkdir(parents=True)
    (stale / "images.npy").write_bytes(b"half written")
    c = _build(root, make_tree(tmp_path / "tree"))
    _check_rows(c)
    assert not stale.exists()
    assert _hidden(root) == []


def test_build_folder_of_a_live_process_is_kept(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    live = root / f".other-8px-noclahe-0123456789ab.tmp-{os.getppid()}"  # a running build
    live.mkdir(parents=True)
    _build(root, make_tree(tmp_path / "tree"))
    assert live.is_dir()


def test_build_folder_of_another_host_is_kept(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    other = root / f".tree-8px-noclahe-0123456789ab.tmp-some_other_host-{_dead_pid()}"
    other.mkdir(parents=True)  # its pid means nothing here: the cache root is shared
    _build(root, make_tree(tmp_path / "tree"))
    assert other.is_dir()


def test_this_hosts_build_folder_names_parse_back(tmp_path: Path) -> None:
    mine = cache_folders.build_folder(tmp_path / "x-8px-noclahe-0123456789ab")
    assert mine.name.endswith(f".tmp-{cache_folders.host()}-{os.getpid()}")
    dead = tmp_path / mine.name.replace(f"-{os.getpid()}", f"-{_dead_pid()}")
    mine.mkdir()
    dead.mkdir()
    assert cache_folders.remove_stale(tmp_path) == [dead]
    assert mine.is_dir()


# ---------------------------------------------------------------------- installing a build
def test_install_keeps_a_cache_another_process_finished_first(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    done = _build(tmp_path / "cache", tree)
    late = tmp_path / "cache" / ".late.tmp-1"
    late.mkdir()
    (late / "meta.json").write_text("{}")
    _install(late, done.root)
    _check_rows(open_cache(done.root))
    assert late.is_dir()  # left for its builder to remove


@pytest.mark.parametrize("damage", ["folder", "file"])
def test_install_replaces_a_damaged_cache(tmp_path: Path, damage: str) -> None:
    tree = make_tree(tmp_path / "tree")
    good = _build(tmp_path / "cache", tree)
    fresh = tmp_path / "cache" / ".fresh.tmp-1"
    good.root.rename(fresh)  # a complete build, waiting to be installed
    if damage == "folder":
        good.root.mkdir()
        (good.root / "images.npy").write_bytes(b"cut")
    else:
        good.root.write_text("a file where the cache folder should be")
    _install(fresh, good.root)
    _check_rows(open_cache(good.root))
    assert not fresh.exists()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [good.root.name]


# ---------------------------------------------------------------------- cache root
def test_cache_dir_env_pointing_at_a_file_is_one_line(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "not-a-folder"
    target.write_text("x")
    monkeypatch.setenv("MEDAUG_CACHE_DIR", str(target))
    with pytest.raises(DataError) as exc:
        cache_dir()
    message = str(exc.value)
    assert message.startswith(f"MEDAUG_CACHE_DIR={target}: ")
    assert "not a folder" in message
    with pytest.raises(DataError, match="MEDAUG_CACHE_DIR"):
        build_cache(read_folder(make_tree(tmp_path / "tree")), PLAIN, workers=1,
                    progress=False)


def test_cache_dir_env_below_a_file_is_one_line(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("MEDAUG_CACHE_DIR", str(tmp_path / "file" / "cache"))
    with pytest.raises(DataError, match=r"^MEDAUG_CACHE_DIR=.*cannot be made"):
        cache_dir()


def test_cache_dir_default_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDAUG_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()
    monkeypatch.delenv("MEDAUG_CACHE_DIR")
    monkeypatch.chdir(tmp_path)
    assert cache_dir() == tmp_path / ".medaug-cache"


def test_images_of_a_rebuilt_cache_are_memory_mapped(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    first = _build(tmp_path / "cache", tree)
    (first.root / "meta.json").unlink()
    assert isinstance(_build(tmp_path / "cache", tree).images, np.memmap)
