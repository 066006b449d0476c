"""AI Hub X-ray reader: Korean layouts, filepath/filename lookup, labels, splits, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from builders import (
    AIHUB_IMAGES,
    LABEL_FOLDER,
    SOURCE_FOLDER,
    AihubImage,
    aihub_image_path,
    aihub_json_path,
    make_aihub_tree,
    write_json,
    write_png,
)

from medaug.data.sources.aihub import body_part_of, read_aihub, split_of
from medaug.errors import DataError


def _by_name(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Manifest rows keyed by image file name."""
    return {Path(row["path"]).name: row for row in frame.to_dict("records")}


def test_korean_layout_found_by_filename(aihub_tree: Path) -> None:
    manifest = read_aihub(aihub_tree)
    frame = manifest.frame
    assert manifest.name == "aihub"
    assert len(frame) == len(AIHUB_IMAGES) == 8
    rows = _by_name(frame)
    for image in AIHUB_IMAGES:
        row = rows[image.filename]
        assert Path(row["path"]) == aihub_image_path(aihub_tree, image).resolve()
        assert row["label"] == image.label_int
        assert row["split"] == {"Training": "train", "Validation": "test"}[image.split_dir]
        assert row["patient_id"] == row["study_id"] == Path(image.filename).stem
    assert all(SOURCE_FOLDER in p for p in frame["path"])
    assert frame.groupby("split").size().to_dict() == {"train": 6, "test": 2}


def test_labels_and_body_parts(aihub_tree: Path) -> None:
    frame = read_aihub(aihub_tree).frame
    assert frame["label"].sum() == 4  # Abnormal x4; Normal/NORMAL/normal are 0
    assert frame.groupby("body_part").size().to_dict() == {"Foot": 6, "Hand": 2}
    assert _by_name(frame)["발_002.png"]["body_part"] == "Foot"


def test_root_may_be_label_folder_or_split_folder(aihub_tree: Path) -> None:
    label_only = read_aihub(aihub_tree / "Training" / LABEL_FOLDER).frame
    assert len(label_only) == 6 and set(label_only["split"]) == {"train"}
    validation = read_aihub(aihub_tree / "Validation").frame
    assert len(validation) == 2 and set(validation["split"]) == {"test"}


def test_numbered_split_folders(tmp_path: Path) -> None:
    images = (
        AihubImage("", "Knee_Abnormal", "k1.png", "Abnormal"),
        AihubImage("", "Knee_Normal", "k2.png", "Normal"),
    )
    make_aihub_tree(tmp_path / "1.Training", images)
    frame = read_aihub(tmp_path).frame
    assert set(frame["split"]) == {"train"} and set(frame["body_part"]) == {"Knee"}


def test_no_split_parent_leaves_split_unassigned(tmp_path: Path) -> None:
    images = (
        AihubImage("", "Chest_Abnormal", "c1.png", "Abnormal"),
        AihubImage("", "Chest_Normal", "c2.png", "Normal"),
    )
    frame = read_aihub(make_aihub_tree(tmp_path, images)).frame
    assert list(frame["split"]) == ["", ""]
    assert sorted(frame["label"]) == [0, 1]


def test_existing_filepath_is_used(tmp_path: Path) -> None:
    root = make_aihub_tree(tmp_path / "aihub")
    elsewhere = write_png(tmp_path / "original" / "foot_001.png", 1)
    folder_copy = write_png(tmp_path / "as_folder" / "foot_003.png", 0)
    first, third = AIHUB_IMAGES[0], AIHUB_IMAGES[2]
    write_json(
        aihub_json_path(root, first),
        {"filepath": str(elsewhere), "filename": first.filename, "label": first.label},
    )
    write_json(
        aihub_json_path(root, third),
        {"filepath": str(folder_copy.parent), "filename": third.filename, "label": third.label},
    )
    rows = _by_name(read_aihub(root).frame)
    assert Path(rows["foot_001.png"]["path"]) == elsewhere.resolve()
    assert Path(rows["foot_003.png"]["path"]) == folder_copy.resolve()


def test_windows_filepath_falls_back_to_filename(tmp_path: Path) -> None:
    root = make_aihub_tree(tmp_path, filepath="D:\\AIHub\\원천데이터")
    frame = read_aihub(root).frame
    assert len(frame) == len(AIHUB_IMAGES)
    assert all(Path(p).is_file() for p in frame["path"])


def test_image_found_nowhere_names_json_and_filename(aihub_tree: Path) -> None:
    image = AIHUB_IMAGES[1]
    aihub_image_path(aihub_tree, image).unlink()
    with pytest.raises(DataError) as info:
        read_aihub(aihub_tree)
    message = str(info.value)
    assert str(aihub_json_path(aihub_tree, image)) in message
    assert repr(image.filename) in message and "not found" in message


def test_malformed_json_named(aihub_tree: Path) -> None:
    bad = aihub_json_path(aihub_tree, AIHUB_IMAGES[4])
    bad.write_text('{"filepath": "x", "filename": ', encoding="utf-8")
    with pytest.raises(DataError, match="not valid UTF-8 JSON") as info:
        read_aihub(aihub_tree)
    assert str(bad) in str(info.value)


@pytest.mark.parametrize("key", ["filepath", "filename", "label"])
def test_missing_key_named(aihub_tree: Path, key: str) -> None:
    image = AIHUB_IMAGES[0]
    record = {"filepath": "/nowhere", "filename": image.filename, "label": image.label}
    del record[key]
    path = write_json(aihub_json_path(aihub_tree, image), record)
    with pytest.raises(DataError, match=f"lacks the required key '{key}'") as info:
        read_aihub(aihub_tree)
    assert str(path) in str(info.value)


def test_empty_label_rejected(aihub_tree: Path) -> None:
    image = AIHUB_IMAGES[0]
    path = write_json(
        aihub_json_path(aihub_tree, image),
        {"filepath": "", "filename": image.filename, "label": " "},
    )
    with pytest.raises(DataError, match="empty 'label'") as info:
        read_aihub(aihub_tree)
    assert str(path) in str(info.value)


def test_bom_nested_fields_and_patient_id(aihub_tree: Path) -> None:
    image = AIHUB_IMAGES[5]
    write_json(
        aihub_json_path(aihub_tree, image),
        {"meta": {"filepath": "/gone", "filename": image.filename}, "label": "Normal",
         "patientId": "P-7"},
        bom=True,
    )
    row = _by_name(read_aihub(aihub_tree).frame)[image.filename]
    assert (row["label"], row["patient_id"], row["study_id"]) == (0, "P-7", "P-7")


def test_abnormal_subtype_is_abnormal(tmp_path: Path) -> None:
    images = (
        AihubImage("Training", "Spine_Abnormal", "s1.png", "Fracture"),
        AihubImage("Training", "Spine_Normal", "s2.png", "nOrMaL"),
    )
    frame = read_aihub(make_aihub_tree(tmp_path, images)).frame
    assert dict(zip(frame["path"].map(lambda p: Path(p).name), frame["label"], strict=True)) == {
        "s1.png": 1,
        "s2.png": 0,
    }


def test_empty_class_rejected(tmp_path: Path) -> None:
    images = tuple(i for i in AIHUB_IMAGES if i.label_int == 0)
    with pytest.raises(DataError, match=r"class 1 \(abnormal\) has no images"):
        read_aihub(make_aihub_tree(tmp_path, images))


def test_no_label_folder_or_no_json(tmp_path: Path) -> None:
    root = tmp_path / "xray_set"
    (root / SOURCE_FOLDER).mkdir(parents=True)
    with pytest.raises(DataError, match="no label folder"):
        read_aihub(root)
    (root / LABEL_FOLDER / "TL_Foot_Normal").mkdir(parents=True)
    with pytest.raises(DataError, match=f"{LABEL_FOLDER} holds no .json"):
        read_aihub(root)


def test_root_named_like_label_but_holding_the_set(tmp_path: Path) -> None:
    root = make_aihub_tree(tmp_path / "labelled_xrays")
    assert len(read_aihub(root)) == len(AIHUB_IMAGES)


def test_same_filename_in_two_categories_takes_mirrored(tmp_path: Path) -> None:
    images = (
        AihubImage("Training", "Foot_Abnormal", "x.png", "Abnormal"),
        AihubImage("Training", "Hand_Normal", "x.png", "Normal"),
    )
    frame = read_aihub(make_aihub_tree(tmp_path, images)).frame
    parents = {row["body_part"]: Path(row["path"]).parent.name for _, row in frame.iterrows()}
    assert parents == {"Foot": "TS_Foot_Abnormal", "Hand": "TS_Hand_Normal"}


def test_same_filename_in_train_and_validation_of_one_source(tmp_path: Path) -> None:
    """Layout 02.라벨링데이터/{Training,Validation}/..: one source folder holds both splits."""
    for split_dir, label in (("Training", "Abnormal"), ("Validation", "Normal")):
        image = write_png(tmp_path / SOURCE_FOLDER / split_dir / "Foot_X" / "same.png", 1)
        write_json(
            tmp_path / LABEL_FOLDER / split_dir / "Foot_X" / "same.json",
            {"filepath": "/gone", "filename": image.name, "label": label},
        )
    frame = read_aihub(tmp_path).frame
    folders = {row["split"]: Path(row["path"]).parts[-3] for row in frame.to_dict("records")}
    assert folders == {"train": "Training", "test": "Validation"}
    assert set(frame["body_part"]) == {"Foot_X"}


@pytest.mark.parametrize(
    ("category", "expected"),
    [
        ("Foot_Abnormal", "Foot"),
        ("Foot_Normal", "Foot"),
        ("TL_Foot_Abnormal", "Foot"),
        ("VS_Hand_Normal", "Hand"),
        ("1.TL_Chest_abnormal", "Chest"),
        ("Knee", "Knee"),
        ("Abnormal", ""),
    ],
)
def test_body_part_of(category: str, expected: str) -> None:
    assert body_part_of(category) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Training", "train"),
        ("1.Training", "train"),
        ("Validation", "test"),
        ("2.Validation", "test"),
        ("02.라벨링데이터", ""),
    ],
)
def test_split_of(name: str, expected: str) -> None:
    assert split_of(name) == expected
