"""Dataset specs: presets, ``kind:path`` readers, and the real shared data sets."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from helpers import write_png
from medaug.data.datasets import DataOptions, load_dataset
from medaug.data.splits import check_leakage
from medaug.errors import DataError

PRESETS = ("pneumoniamnist", "knee", "knee-drop1", "chest", "chest-fullres")


def _flat_tree(root: Path, n: int = 20) -> Path:
    for k in range(n):
        write_png(root / "normal" / f"n{k:02d}.png", (8, 8), seed=k)
        write_png(root / "abnormal" / f"a{k:02d}.png", (8, 8), seed=100 + k)
    return root


@pytest.mark.parametrize("spec", ["nope", "folder", "folder:", "xyz:/tmp", "knee:extra"])
def test_unknown_spec_raises_listing_presets(spec: str) -> None:
    with pytest.raises(DataError, match=re.escape(f"unknown dataset {spec!r}")) as exc:
        load_dataset(spec)
    message = str(exc.value)
    for preset in PRESETS:
        assert preset in message
    for kind in ("folder:PATH", "csv:PATH", "mura:PATH", "aihub:PATH", "medmnist:PATH"):
        assert kind in message


def test_folder_spec_reads_and_splits(tmp_path: Path) -> None:
    root = _flat_tree(tmp_path / "mine")
    m = load_dataset(f"folder:{root}", DataOptions(val=0.2, test=0.2, seed=1))
    assert m.name == "mine"
    assert len(m) == 40
    assert m.has_splits
    assert m.frame.groupby(["split", "label"]).size().to_dict() == {
        ("test", 0): 4, ("test", 1): 4, ("train", 0): 12, ("train", 1): 12,
        ("val", 0): 4, ("val", 1): 4}


def test_folder_spec_options(tmp_path: Path) -> None:
    root = tmp_path / "grades"
    for grade in "012":
        for k in range(4):
            write_png(root / grade / f"{k}{'LR'[k % 2]}.png", (8, 8))
    opts = DataOptions(classes={"0": 0, "2": 1}, exclude=("1",), patient_regex=r"^(\d)[LR]$",
                       val=0.0, test=0.5)
    m = load_dataset(f"folder:{root}", opts)
    assert {Path(p).parent.name for p in m.frame["path"]} == {"0", "2"}
    assert len(m) == 8
    assert m.frame["patient_id"].nunique() == 4
    assert set(m.frame["split"]) == {"train", "test"}


def test_csv_spec(tmp_path: Path) -> None:
    for name in ("a", "b", "c", "d"):
        write_png(tmp_path / f"{name}.png", (8, 8))
    csv = tmp_path / "list.csv"
    csv.write_text("path,label,split\na.png,0,train\nb.png,1,train\nc.png,0,test\n"
                   "d.png,1,test\n")
    m = load_dataset(f"csv:{csv}", DataOptions(val=0.0))
    assert m.name == "list"
    assert m.frame["split"].tolist() == ["train", "train", "test", "test"]


def test_medmnist_file_spec(tmp_path: Path) -> None:
    path = tmp_path / "pneumoniamnist_64.npz"
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_images"] = np.zeros((2, 8, 8), np.uint8)
        arrays[f"{split}_labels"] = np.array([[0], [1]])
    np.savez(path, **arrays)
    m = load_dataset(f"medmnist:{path}")
    assert m.name == "pneumoniamnist"
    assert m.frame["split"].tolist() == ["train"] * 2 + ["val"] * 2 + ["test"] * 2


def test_missing_folder_spec_names_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'gone'} does not exist")):
        load_dataset(f"folder:{tmp_path / 'gone'}")


@pytest.mark.parametrize("preset", ["knee", "knee-drop1", "chest", "chest-fullres"])
def test_presets_without_data_dir_raise(preset: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDAUG_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="set MEDAUG_DATA_DIR to the folder that holds"):
        load_dataset(preset)


def test_preset_with_data_dir_lacking_folder_names_it(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDAUG_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'knee_oa_kl224'} does not exist")):
        load_dataset("knee")


@pytest.mark.parametrize(("spec", "match"), [("pneumoniamnist:big", "must be 28, 64, 128"),
                                             ("pneumoniamnist:32", "unknown MedMNIST file")])
def test_pneumoniamnist_bad_size(spec: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        load_dataset(spec)


# ---------------------------------------------------------------------- real data
def _count(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _assert_no_patient_in_two_splits(m) -> None:
    check_leakage(m)
    assert (m.frame.groupby("patient_id")["split"].nunique() == 1).all()


@pytest.mark.data
def test_knee(shared_data: Path) -> None:
    m = load_dataset("knee")
    assert len(m) == 1356
    assert m.frame["patient_id"].nunique() == 678
    assert m.frame["split"].value_counts().to_dict() == {"train": 800, "test": 370, "val": 186}
    root = shared_data / "knee_oa_kl224"
    for split in ("train", "val", "test"):
        part = m.split(split)
        abnormal = sum(_count(root / split / g) for g in "234")
        normal = sum(_count(root / split / g) for g in "01")
        assert sum(part.labels) == abnormal, split
        assert len(part) - sum(part.labels) == normal, split
    train = m.split("train")
    assert (sum(train.labels), len(train) - sum(train.labels)) == (480, 320)
    assert set(m.frame["body_part"]) == {"knee"}
    _assert_no_patient_in_two_splits(m)


@pytest.mark.data
def test_knee_drop1(shared_data: Path) -> None:
    m = load_dataset("knee-drop1")
    assert len(m) == 1076
    assert not any(Path(p).parent.name == "1" for p in m.frame["path"])
    assert len(m) == 1356 - sum(_count(shared_data / "knee_oa_kl224" / s / "1")
                                for s in ("train", "val", "test"))
    _assert_no_patient_in_two_splits(m)


@pytest.mark.data
def test_chest(shared_data: Path) -> None:
    m = load_dataset("chest")
    assert len(m) == 5840
    test = m.split("test")
    assert len(test) == 624
    assert (sum(test.labels), len(test) - sum(test.labels)) == (390, 234)
    # val is carved from the official train folder only
    for split in ("train", "val"):
        assert all(Path(p).parents[1].name == "train" for p in m.split(split).frame["path"])
    assert all(Path(p).parents[1].name == "test" for p in test.frame["path"])
    assert len(m.split("train")) + len(m.split("val")) == 1341 + 3875
    val = m.split("val")
    assert 0.10 < len(val) / (1341 + 3875) < 0.20
    assert set(val.labels) == {0, 1}
    _assert_no_patient_in_two_splits(m)


@pytest.mark.data
def test_pneumoniamnist_from_shared_data(shared_data: Path) -> None:
    m = load_dataset("pneumoniamnist")
    assert m.frame["split"].value_counts().to_dict() == {"train": 4708, "test": 624, "val": 524}
    assert Path(m.frame["path"].iloc[0]) == (
        shared_data / "pneumoniamnist" / "pneumoniamnist.npz").resolve()
    assert m.frame["index"].tolist() == list(range(len(m)))
