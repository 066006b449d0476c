"""MURA v1.1 reader: CSV formats, counts, labels, cross-checks, body-part filter, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import MURA_STUDIES, MuraStudy, make_mura_tree

from medaug.data.sources.mura import normalise_body_part, read_mura
from medaug.errors import DataError

N_IMAGES = sum(s.n_images for s in MURA_STUDIES)


def test_headerless_counts_and_splits(mura_tree: Path) -> None:
    frame = read_mura(mura_tree).frame
    assert len(frame) == N_IMAGES == 16
    assert frame["patient_id"].nunique() == 7
    assert frame["study_id"].nunique() == len(MURA_STUDIES) == 10
    assert frame.groupby("split").size().to_dict() == {"train": 10, "test": 6}
    assert set(frame.loc[frame["split"] == "test", "patient_id"]) == {
        "patient11185",
        "patient11186",
        "patient11187",
    }
    assert frame.groupby("body_part").size().to_dict() == {
        "XR_ELBOW": 8,
        "XR_SHOULDER": 5,
        "XR_WRIST": 3,
    }


def test_labels_and_ids_follow_studies(mura_tree: Path) -> None:
    frame = read_mura(mura_tree).frame
    by_study = frame.groupby("study_id")["label"].agg(["min", "max", "size"])
    for study in MURA_STUDIES:
        row = by_study.loc[study.study_id]
        assert (row["min"], row["max"], row["size"]) == (study.label, study.label, study.n_images)
    # one patient with "study1" in two body parts keeps two distinct studies
    assert set(frame.loc[frame["patient_id"] == "patient00001", "study_id"]) == {
        "XR_SHOULDER/patient00001/study1_positive",
        "XR_ELBOW/patient00001/study1_negative",
    }
    assert (frame["index"] == -1).all()


def test_paths_are_absolute_existing_files(mura_tree: Path) -> None:
    manifest = read_mura(mura_tree)
    assert manifest.name == "mura"
    paths = [Path(p) for p in manifest.frame["path"]]
    assert all(p.is_absolute() and p.is_file() for p in paths)
    first = paths[0]
    assert first.parts[-5:] == (
        "train", "XR_SHOULDER", "patient00001", "study1_positive", "image1.png"
    )


def test_root_may_be_folder_or_its_parent(mura_tree: Path) -> None:
    from_folder = read_mura(mura_tree).frame
    from_parent = read_mura(str(mura_tree.parent)).frame
    assert from_folder.equals(from_parent)


def test_headered_csvs_read_like_official(tmp_path: Path) -> None:
    plain = read_mura(make_mura_tree(tmp_path / "plain")).frame
    headed = read_mura(make_mura_tree(tmp_path / "headed", header=True)).frame
    assert len(headed) == N_IMAGES
    cols = ["label", "patient_id", "study_id", "body_part", "split"]
    assert headed[cols].equals(plain[cols])


def test_label_contradicting_folder_names_study(tmp_path: Path) -> None:
    bad = MuraStudy("train", "XR_HAND", "patient00009", "study1_negative", 1, 1)
    with pytest.raises(DataError, match=r"XR_HAND/patient00009/study1_negative.*negative"):
        read_mura(make_mura_tree(tmp_path, (*MURA_STUDIES, bad)))


def test_image_outside_labeled_studies_is_named(mura_tree: Path) -> None:
    csv = mura_tree / "valid_image_paths.csv"
    stray = "MURA-v1.1/valid/XR_HAND/patient11999/study1_positive/image1.png"
    csv.write_text(csv.read_text() + stray + "\n")
    with pytest.raises(DataError, match=r"patient11999/study1_positive/image1\.png.*no study"):
        read_mura(mura_tree)


def test_missing_images_named_and_counted(mura_tree: Path) -> None:
    images = sorted(mura_tree.rglob("*.png"))
    gone = images[:7]
    for path in gone:
        path.unlink()
    with pytest.raises(DataError) as info:
        read_mura(mura_tree)
    message = str(info.value)
    assert f"7 of {N_IMAGES} image(s)" in message
    named = [p for p in gone if str(p.resolve()) in message]
    assert len(named) == 5  # only the first few are named
    assert not any(str(p.resolve()) in message for p in images[7:])


def test_wrong_layout_names_first_missing(tmp_path: Path) -> None:
    base = make_mura_tree(tmp_path / "data", write_images=False)
    with pytest.raises(DataError, match=r"(?s)16 of 16 image\(s\).*XR_SHOULDER.*image1\.png"):
        read_mura(base)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (["XR_ELBOW"], {"XR_ELBOW"}),
        (["elbow"], {"XR_ELBOW"}),
        (["xr_Elbow", "WRIST"], {"XR_ELBOW", "XR_WRIST"}),
        (["shoulder", "elbow", "xr_wrist"], {"XR_SHOULDER", "XR_ELBOW", "XR_WRIST"}),
    ],
)
def test_body_part_filter(mura_tree: Path, parts: list[str], expected: set[str]) -> None:
    frame = read_mura(mura_tree, body_parts=parts).frame
    assert set(frame["body_part"]) == expected
    wanted = [s for s in MURA_STUDIES if s.body_part in expected]
    assert len(frame) == sum(s.n_images for s in wanted)
    assert frame["study_id"].nunique() == len(wanted)


def test_body_part_filter_skips_missing_images_of_other_parts(mura_tree: Path) -> None:
    for path in (mura_tree / "train" / "XR_SHOULDER").rglob("*.png"):
        path.unlink()
    assert set(read_mura(mura_tree, ["elbow"]).frame["body_part"]) == {"XR_ELBOW"}


def test_unknown_body_part_lists_found(mura_tree: Path) -> None:
    with pytest.raises(DataError, match=r"XR_KNEE.*found: XR_ELBOW, XR_SHOULDER, XR_WRIST"):
        read_mura(mura_tree, body_parts=["elbow", "knee"])


@pytest.mark.parametrize(
    "name",
    [
        "train_image_paths.csv",
        "train_labeled_studies.csv",
        "valid_image_paths.csv",
        "valid_labeled_studies.csv",
    ],
)
def test_missing_csv_named(mura_tree: Path, name: str) -> None:
    (mura_tree / name).unlink()
    with pytest.raises(DataError, match=f"expected CSV .*{name}"):
        read_mura(mura_tree)


def test_wrong_root_names_expected_csv(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"train_labeled_studies\.csv not found"):
        read_mura(tmp_path)
    with pytest.raises(DataError, match="not a folder"):
        read_mura(tmp_path / "nowhere")


def test_bad_label_value_named(mura_tree: Path) -> None:
    csv = mura_tree / "train_labeled_studies.csv"
    csv.write_text(csv.read_text().replace("study1_positive/,1", "study1_positive/,2", 1))
    with pytest.raises(DataError, match="label must be 0 or 1, got '2'"):
        read_mura(mura_tree)


def test_single_class_selection_rejected(mura_tree: Path) -> None:
    studies = tuple(s for s in MURA_STUDIES if s.label == 0)
    base = make_mura_tree(mura_tree.parent.parent / "normals", studies)
    with pytest.raises(DataError, match=r"class 1 \(abnormal\) has no images"):
        read_mura(base)


@pytest.mark.parametrize("name", ["elbow", "Elbow", "xr_elbow", "XR_ELBOW", " XR_elbow "])
def test_normalise_body_part(name: str) -> None:
    assert normalise_body_part(name) == "XR_ELBOW"
