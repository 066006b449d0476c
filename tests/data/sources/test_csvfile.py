"""CSV manifests: relative/absolute paths, label spellings, errors that name the row or file."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import write_png
from medaug.data.datasets import load_dataset
from medaug.data.sources.csvfile import read_csv_manifest
from medaug.errors import DataError


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """``tmp_path/data/img/{a,b,c}.png`` and ``tmp_path/elsewhere/d.png``."""
    for name in "abc":
        write_png(tmp_path / "data" / "img" / f"{name}.png", (8, 8))
    write_png(tmp_path / "elsewhere" / "d.png", (8, 8))
    return tmp_path


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_relative_and_absolute_paths(images: Path) -> None:
    absolute = images / "elsewhere" / "d.png"
    csv = _write(images / "data" / "list.csv",
                 f"path,label,patient_id\nimg/a.png,0,p1\n{absolute},1,p2\n")
    m = read_csv_manifest(csv)
    assert m.name == "list"
    assert m.frame["path"].tolist() == [str((images / "data" / "img" / "a.png").resolve()),
                                        str(absolute)]
    assert m.labels == [0, 1]
    assert m.frame["patient_id"].tolist() == ["p1", "p2"]


def test_label_spellings(images: Path) -> None:
    csv = _write(images / "data" / "l.csv",
                 "path,label\nimg/a.png,normal\nimg/b.png, Abnormal \nimg/c.png,1\n")
    assert read_csv_manifest(csv, name="n").labels == [0, 1, 1]


def test_optional_columns_kept(images: Path) -> None:
    csv = _write(images / "data" / "o.csv",
                 "path,label,patient_id,study_id,body_part,split\n"
                 "img/a.png,0,p1,s1,XR_HAND,train\nimg/b.png,1,p2,s2,XR_HAND,test\n")
    m = read_csv_manifest(csv)
    assert m.frame["study_id"].tolist() == ["s1", "s2"]
    assert m.frame["split"].tolist() == ["train", "test"]
    assert m.frame["body_part"].tolist() == ["XR_HAND", "XR_HAND"]


def test_bad_label_names_the_row(images: Path) -> None:
    csv = _write(images / "data" / "bad.csv",
                 "path,label\nimg/a.png,0\nimg/b.png,1\nimg/c.png,sick\n")
    with pytest.raises(DataError, match=r"bad\.csv: row 4: .*got 'sick'"):
        read_csv_manifest(csv)


def test_missing_columns(images: Path) -> None:
    csv = _write(images / "data" / "cols.csv", "file,diagnosis\nimg/a.png,0\n")
    with pytest.raises(DataError, match=r"missing column\(s\) path, label; found file, diagnosis"):
        read_csv_manifest(csv)


def test_missing_files_named(images: Path) -> None:
    csv = _write(images / "data" / "gone.csv",
                 "path,label\nimg/a.png,0\nimg/zz.png,1\nimg/yy.png,1\n")
    with pytest.raises(DataError, match=r"2 listed image\(s\) do not exist") as exc:
        read_csv_manifest(csv)
    assert "zz.png" in str(exc.value)
    assert "yy.png" in str(exc.value)


def test_missing_csv_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nothing\.csv does not exist"):
        read_csv_manifest(tmp_path / "nothing.csv")


def test_no_patient_column_uses_stems(images: Path) -> None:
    csv = _write(images / "data" / "np.csv", "path,label\nimg/a.png,0\nimg/b.png,1\n")
    m = read_csv_manifest(csv)
    assert m.frame["patient_id"].tolist() == ["a", "b"]
    assert m.frame["study_id"].tolist() == ["a", "b"]


def test_empty_patient_cells_use_stems(images: Path) -> None:
    csv = _write(images / "data" / "ep.csv",
                 "path,label,patient_id\nimg/a.png,0,P1\nimg/b.png,1,\nimg/c.png,1,P1\n")
    assert read_csv_manifest(csv).frame["patient_id"].tolist() == ["P1", "b", "P1"]


def test_one_class_only_raises_naming_the_csv(images: Path) -> None:
    csv = _write(images / "data" / "one.csv", "path,label\nimg/a.png,0\nimg/b.png,0\n")
    with pytest.raises(DataError, match=r"class 1 \(abnormal\) has no images.*one\.csv"):
        read_csv_manifest(csv)


# ---------------------------------------------------------------------- empty tables
@pytest.mark.parametrize("text", ["", "\n", "   \n\n"], ids=["zero-byte", "newline", "blank"])
def test_empty_csv_names_the_file(tmp_path: Path, text: str) -> None:
    csv = _write(tmp_path / "empty.csv", text)
    with pytest.raises(DataError, match=r"^CSV manifest .*empty\.csv is empty") as exc:
        load_dataset(f"csv:{csv}")
    assert "\n" not in str(exc.value)


def test_header_only_csv_has_no_rows(tmp_path: Path) -> None:
    csv = _write(tmp_path / "header.csv", "path,label,patient_id\n")
    with pytest.raises(DataError, match=r"^CSV manifest .*header\.csv has a header but no rows"):
        load_dataset(f"csv:{csv}")


# ---------------------------------------------------------------------- duplicate rows
def test_conflicting_duplicates_name_the_path_and_lines(images: Path) -> None:
    csv = _write(images / "data" / "dup.csv",
                 "path,label\nimg/a.png,0\nimg/b.png,1\nimg/a.png,1\n")
    with pytest.raises(DataError) as exc:
        read_csv_manifest(csv)
    message = str(exc.value)
    assert message.startswith(f"{csv}: ")
    assert str((images / "data" / "img" / "a.png").resolve()) in message
    assert "lines 2 and 4" in message
    assert "label" in message


def test_conflicting_duplicates_through_other_spelling_of_the_path(images: Path) -> None:
    absolute = (images / "data" / "img" / "a.png").resolve()
    csv = _write(images / "data" / "dup2.csv",
                 f"path,label,patient_id\nimg/a.png,0,p1\nimg/b.png,1,p2\n{absolute},0,p9\n")
    with pytest.raises(DataError, match=r"lines 2 and 4 .*patient_id"):
        read_csv_manifest(csv)


def test_identical_duplicates_are_dropped_with_a_warning(images: Path) -> None:
    csv = _write(images / "data" / "same.csv",
                 "path,label\nimg/a.png,0\nimg/b.png,1\nimg/a.png,normal\nimg/c.png,1\n")
    with pytest.warns(UserWarning, match=r"same\.csv: .*a\.png is listed again on line 4 "
                                         r"\(same as line 2\); the repeat is dropped"):
        m = read_csv_manifest(csv)
    assert [Path(p).name for p in m.frame["path"]] == ["a.png", "b.png", "c.png"]
    assert m.labels == [0, 1, 1]
