"""Manifest: columns filled, validation errors that name the file, subsets, CSV round trip."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from medaug.data.manifest import COLUMNS, Manifest, Record
from medaug.errors import DataError


def _frame(**extra: list) -> pd.DataFrame:
    data = {"path": ["/d/a.png", "/d/b.png", "/d/c.png"], "label": [0, 1, 1],
            "patient_id": ["p1", "p2", "p2"]}
    data.update(extra)
    return pd.DataFrame(data)


def test_missing_optional_columns_are_filled() -> None:
    m = Manifest(_frame(), name="toy")
    assert list(m.frame.columns) == list(COLUMNS)
    assert m.frame["index"].tolist() == [-1, -1, -1]
    assert m.frame["study_id"].tolist() == ["p1", "p2", "p2"]  # defaults to patient_id
    assert m.frame["body_part"].tolist() == ["", "", ""]
    assert m.frame["split"].tolist() == ["", "", ""]
    assert m.labels == [0, 1, 1]
    assert len(m) == 3
    assert repr(m) == "Manifest(name='toy', images=3)"


def test_given_study_id_kept_and_empty_one_defaults_to_patient() -> None:
    m = Manifest(_frame(study_id=["s1", "", "s3"]))
    assert m.frame["study_id"].tolist() == ["s1", "p2", "s3"]


def test_string_labels_become_int_and_extra_columns_follow() -> None:
    m = Manifest(_frame(label=["0", "1", 1], note=["x", "y", "z"]))
    assert m.labels == [0, 1, 1]
    assert m.frame["label"].dtype.kind == "i"
    assert list(m.frame.columns) == [*COLUMNS, "note"]


def test_from_records() -> None:
    m = Manifest.from_records(
        [Record(path="/d/a.png", label=0, patient_id="p1", split="train"),
         Record(path="/d/b.png", label=1, patient_id="p2", study_id="s9", index=4)], "rec")
    assert m.name == "rec"
    assert m.frame["study_id"].tolist() == ["p1", "s9"]
    assert m.frame["index"].tolist() == [-1, 4]
    assert m.frame["split"].tolist() == ["train", ""]


def test_from_no_records_is_empty_with_all_columns() -> None:
    m = Manifest.from_records([], "empty")
    assert len(m) == 0
    assert list(m.frame.columns) == list(COLUMNS)
    assert not m.has_splits


@pytest.mark.parametrize("bad", [2, -1, "yes", "abnormal"])
def test_bad_label_raises_naming_the_file(bad: object) -> None:
    with pytest.raises(DataError, match=r"label must be 0 \(normal\) or 1 \(abnormal\)") as exc:
        Manifest(_frame(label=[0, bad, 1]), name="toy")
    assert "/d/b.png" in str(exc.value)
    assert "'toy'" in str(exc.value)


def test_bad_split_raises_naming_the_file() -> None:
    with pytest.raises(DataError, match="unknown split 'valid'") as exc:
        Manifest(_frame(split=["train", "train", "valid"]))
    assert "/d/c.png" in str(exc.value)


@pytest.mark.parametrize("empty", ["", None])
def test_empty_patient_id_raises_naming_the_file(empty: str | None) -> None:
    with pytest.raises(DataError, match=r"empty patient_id for /d/c\.png"):
        Manifest(_frame(patient_id=["p1", "p2", empty]))


def test_missing_required_column_raises() -> None:
    with pytest.raises(DataError, match=r"lacks column.*patient_id"):
        Manifest(pd.DataFrame({"path": ["a"], "label": [0]}))


def test_require_images_on_empty_manifest() -> None:
    with pytest.raises(DataError, match=r"'none' has no images \(read from /src\)"):
        Manifest.from_records([], "none").require_images("/src")


@pytest.mark.parametrize(("present", "missing"), [(0, "class 1 (abnormal)"),
                                                  (1, "class 0 (normal)")])
def test_require_images_on_one_class_names_the_missing_class(present: int, missing: str
                                                             ) -> None:
    m = Manifest(_frame(label=[present] * 3), name="one")
    with pytest.raises(DataError) as exc:
        m.require_images()
    assert missing in str(exc.value)
    assert "has no images" in str(exc.value)


def test_require_images_returns_self_when_both_classes() -> None:
    m = Manifest(_frame())
    assert m.require_images() is m


def test_split_and_subset() -> None:
    m = Manifest(_frame(split=["train", "test", "test"]), name="s")
    test = m.split("test")
    assert test.frame["path"].tolist() == ["/d/b.png", "/d/c.png"]
    assert test.frame.index.tolist() == [0, 1]  # fresh index
    assert test.name == "s"
    assert len(m.split("val")) == 0
    assert m.has_splits
    sub = m.subset([True, False, True])
    assert sub.frame["path"].tolist() == ["/d/a.png", "/d/c.png"]
    with pytest.raises(DataError, match="unknown split 'validation'"):
        m.split("validation")


def test_has_splits_false_when_any_row_unassigned() -> None:
    assert not Manifest(_frame(split=["train", "", "test"])).has_splits


def test_csv_round_trip(tmp_path: Path) -> None:
    m = Manifest(_frame(patient_id=["007", "p2", "p2"], split=["train", "val", "val"],
                        index=[3, -1, 5], body_part=["knee", "", "knee"]), name="rt")
    path = tmp_path / "rt" / "manifest.csv"
    path.parent.mkdir()
    m.to_csv(path)
    back = Manifest.read_csv(path)
    assert back.name == "rt"  # the folder's name
    pd.testing.assert_frame_equal(back.frame, m.frame, check_dtype=False)
    assert back.frame["patient_id"].iloc[0] == "007"  # leading zeros survive
    assert Manifest.read_csv(path, name="other").name == "other"


def test_read_csv_relative_path_in_cwd_gets_folder_name(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "mydata"
    folder.mkdir()
    Manifest(_frame()).to_csv(folder / "m.csv")
    monkeypatch.chdir(folder)
    assert Manifest.read_csv("m.csv").name == "mydata"
