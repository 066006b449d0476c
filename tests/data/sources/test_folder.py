"""Class-per-folder trees: class mapping, exclusions, patient regex, splits, bad layouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import write_png
from medaug.data.sources.folder import parse_classes, read_folder
from medaug.errors import DataError

KNEE = {"0": 0, "1": 0, "2": 1, "3": 1, "4": 1}
# split -> KL grade -> patient numbers; each patient has an L and an R knee in the same grade.
KNEE_TREE = {
    "train": {"0": [1, 2], "1": [3], "2": [4], "3": [5], "4": [6]},
    "val": {"0": [7], "1": [8], "2": [9], "3": [], "4": [10]},
    "test": {"0": [11], "1": [12, 13], "2": [14], "3": [15], "4": []},
}


def make_knee_tree(root: Path) -> Path:
    """``root/{train,val,test}/{0..4}/<id><L|R>.png``, 8x8 images (empty grades stay empty)."""
    for split, grades in KNEE_TREE.items():
        for grade, patients in grades.items():
            (root / split / grade).mkdir(parents=True, exist_ok=True)
            for pid in patients:
                for side in "LR":
                    write_png(root / split / grade / f"{pid:04d}{side}.png", (8, 8), seed=pid)
    return root


def _names(m) -> list[str]:
    return [Path(p).name for p in m.frame["path"]]


def test_knee_tree_mapping_regex_and_splits(tmp_path: Path) -> None:
    root = make_knee_tree(tmp_path / "knee")
    m = read_folder(root, classes=KNEE, patient_regex=r"^(\d+)[LR]$", body_part="knee")
    assert m.name == "knee"
    assert len(m) == 2 * 15
    frame = m.frame.assign(grade=m.frame["path"].map(lambda p: Path(p).parent.name))
    assert (frame["label"] == (frame["grade"].astype(int) >= 2)).all()
    # L and R of one person are one patient
    assert frame["patient_id"].nunique() == 15
    assert set(frame.loc[frame["patient_id"] == "0004", "path"].map(lambda p: Path(p).name)) \
        == {"0004L.png", "0004R.png"}
    assert frame.groupby("split").size().to_dict() == {"train": 12, "val": 8, "test": 10}
    assert set(frame["body_part"]) == {"knee"}
    assert all(Path(p).is_absolute() for p in frame["path"])
    assert (frame["index"] == -1).all()


def test_knee_tree_exclude_grade_1(tmp_path: Path) -> None:
    root = make_knee_tree(tmp_path / "knee")
    m = read_folder(root, classes=KNEE, exclude=["1"], patient_regex=r"^(\d+)[LR]$")
    grades = {Path(p).parent.name for p in m.frame["path"]}
    assert grades == {"0", "2", "3", "4"}
    assert len(m) == 2 * (15 - 4)  # patients 3, 8, 12, 13 are KL 1
    assert not {"0003", "0008", "0012", "0013"} & set(m.frame["patient_id"])


def test_split_scope_prefixes_patient_ids(tmp_path: Path) -> None:
    root = make_knee_tree(tmp_path / "knee")
    m = read_folder(root, classes=KNEE, patient_regex=r"^(\d+)[LR]$", patient_scope="split")
    assert set(m.frame.loc[m.frame["split"] == "val", "patient_id"]) == {
        "val/0007", "val/0008", "val/0009", "val/0010"}


def test_bad_patient_scope_raises(tmp_path: Path) -> None:
    root = make_knee_tree(tmp_path / "knee")
    with pytest.raises(DataError, match="patient_scope"):
        read_folder(root, classes=KNEE, patient_scope="study")


def test_regex_without_match_names_the_file(tmp_path: Path) -> None:
    root = make_knee_tree(tmp_path / "knee")
    write_png(root / "train" / "0" / "oddname.png", (8, 8))
    with pytest.raises(DataError, match=r"oddname\.png.*does not match patient regex"):
        read_folder(root, classes=KNEE, patient_regex=r"^(\d+)[LR]$")


def test_regex_without_group_uses_whole_match(tmp_path: Path) -> None:
    root = tmp_path / "flat"
    write_png(root / "normal" / "ab12_x.png", (8, 8))
    write_png(root / "abnormal" / "cd34_y.png", (8, 8))
    m = read_folder(root, patient_regex=r"[a-z]+\d+")
    assert sorted(m.frame["patient_id"]) == ["ab12", "cd34"]


def test_flat_tree_auto_classes_no_split(tmp_path: Path) -> None:
    root = tmp_path / "flat"
    for k in range(2):
        write_png(root / "Normal" / f"n{k}.png", (8, 8))
        write_png(root / "PNEUMONIA" / f"p{k}.png", (8, 8))
    m = read_folder(root, name="mine")
    assert m.name == "mine"
    assert set(m.frame["split"]) == {""}
    assert not m.has_splits
    labels = dict(zip(_names(m), m.labels, strict=True))
    assert labels == {"n0.png": 0, "n1.png": 0, "p0.png": 1, "p1.png": 1}
    assert sorted(m.frame["patient_id"]) == ["n0", "n1", "p0", "p1"]  # stems


@pytest.mark.parametrize(("normal", "abnormal"), [("negative", "positive"),
                                                  ("healthy", "disease"),
                                                  ("benign", "malignant")])
def test_auto_class_names(tmp_path: Path, normal: str, abnormal: str) -> None:
    write_png(tmp_path / normal / "a.png", (8, 8))
    write_png(tmp_path / abnormal / "b.png", (8, 8))
    m = read_folder(tmp_path)
    assert dict(zip(_names(m), m.labels, strict=True)) == {"a.png": 0, "b.png": 1}


def test_split_folder_aliases(tmp_path: Path) -> None:
    for split in ("training", "valid", "testing"):
        write_png(tmp_path / split / "normal" / f"{split}n.png", (8, 8))
        write_png(tmp_path / split / "abnormal" / f"{split}a.png", (8, 8))
    m = read_folder(tmp_path)
    assert dict(zip(_names(m), m.frame["split"], strict=True)) == {
        "trainingn.png": "train", "traininga.png": "train", "validn.png": "val",
        "valida.png": "val", "testingn.png": "test", "testinga.png": "test"}


def test_unrecognised_class_names_raise_listing_them(tmp_path: Path) -> None:
    write_png(tmp_path / "normal" / "a.png", (8, 8))
    write_png(tmp_path / "cats" / "b.png", (8, 8))
    with pytest.raises(DataError, match=r"\['cats'\].*--classes"):
        read_folder(tmp_path)


def test_unmapped_class_raises_listing_it(tmp_path: Path) -> None:
    root = make_knee_tree(tmp_path / "knee")
    with pytest.raises(DataError, match=r"\['4'\] have no label in the mapping"):
        read_folder(root, classes={"0": 0, "1": 0, "2": 1, "3": 1})


def test_mapping_value_not_binary_raises(tmp_path: Path) -> None:
    root = make_knee_tree(tmp_path / "knee")
    with pytest.raises(DataError, match="must be 0 or 1"):
        read_folder(root, classes={**KNEE, "4": 2})


def test_excluding_unknown_class_raises(tmp_path: Path) -> None:
    root = make_knee_tree(tmp_path / "knee")
    with pytest.raises(DataError, match=r"cannot exclude class\(es\) \['5'\]"):
        read_folder(root, classes=KNEE, exclude=["5"])


def test_empty_class_folder_raises_naming_the_class(tmp_path: Path) -> None:
    write_png(tmp_path / "normal" / "a.png", (8, 8))
    (tmp_path / "abnormal").mkdir()
    with pytest.raises(DataError, match=r"class 1 \(abnormal\) has no images") as exc:
        read_folder(tmp_path)
    assert str(tmp_path) in str(exc.value)


def test_missing_root_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nothere does not exist"):
        read_folder(tmp_path / "nothere")


def test_root_without_class_folders_raises(tmp_path: Path) -> None:
    write_png(tmp_path / "loose.png", (8, 8))
    with pytest.raises(DataError, match="no class folders"):
        read_folder(tmp_path)


def test_hidden_files_and_folders_ignored(tmp_path: Path) -> None:
    write_png(tmp_path / "normal" / "a.png", (8, 8))
    write_png(tmp_path / "abnormal" / "b.png", (8, 8))
    (tmp_path / "normal" / ".DS_Store").write_bytes(b"junk")
    write_png(tmp_path / "normal" / ".hidden" / "c.png", (8, 8))
    write_png(tmp_path / ".cache" / "d.png", (8, 8))  # a hidden class folder
    m = read_folder(tmp_path)
    assert sorted(_names(m)) == ["a.png", "b.png"]


def test_nested_files_and_non_images_are_listed(tmp_path: Path) -> None:
    write_png(tmp_path / "normal" / "a.png", (8, 8))
    write_png(tmp_path / "abnormal" / "sub" / "b.png", (8, 8))
    (tmp_path / "abnormal" / "readme.txt").write_text("notes")
    (tmp_path / "abnormal" / "dir.png").mkdir()  # a directory is not a file
    m = read_folder(tmp_path)
    assert sorted(_names(m)) == ["a.png", "b.png", "readme.txt"]


def test_parse_classes_good() -> None:
    assert parse_classes("0=normal,1=normal,2=abnormal") == {"0": 0, "1": 0, "2": 1}
    assert parse_classes(" A = 0 , B=1, C=Abnormal ,") == {"A": 0, "B": 1, "C": 1}
    assert parse_classes("a=b=normal") == {"a=b": 0}
    assert parse_classes("") == {}


@pytest.mark.parametrize(("text", "match"), [("normal", "needs NAME=normal"),
                                             ("x=maybe", r"class 'x'.*got 'maybe'"),
                                             ("x=2", "label must be")])
def test_parse_classes_bad(text: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        parse_classes(text)
