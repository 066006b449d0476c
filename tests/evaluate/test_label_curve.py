"""The label-efficiency curve: summaries read from evaluation folders, one line per model and
probe, error bars from the spread over label subsets (or the interval of a single one)."""

from __future__ import annotations

from pathlib import Path

import cv2
import pandas as pd
import pytest
from typer.testing import CliRunner

from medaug.cli import app
from medaug.errors import DataError
from medaug.evaluate.label_curve import plot_label_curve, read_summaries
from medaug.store import write_table


def _summary(model: str, probe: str, level: str = "image") -> pd.DataFrame:
    rows = []
    for fraction, seeds, value in ((0.01, 3, 0.6), (0.1, 3, 0.7), (1.0, 1, 0.8)):
        row = {"model": model, "probe": probe, "fraction": fraction, "level": level,
               "seeds": seeds, "threshold": 0.5}
        for metric in ("auroc", "balanced_accuracy"):
            row |= {metric: value, f"{metric}_sd": 0.02 if seeds > 1 else float("nan"),
                    f"{metric}_low": value - 0.05, f"{metric}_high": value + 0.04}
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture
def folders(tmp_path: Path) -> list[Path]:
    probe = tmp_path / "probe"
    write_table(probe / "summary.csv", pd.concat([_summary("simclr", "logistic"),
                                                  _summary("simclr", "knn"),
                                                  _summary("simclr", "logistic", "study")]))
    sup = tmp_path / "sup"
    write_table(sup / "summary.csv", _summary("supervised", "end-to-end"))
    return [probe, sup]


def test_summaries_keep_one_level_and_name_their_source(folders: list[Path]) -> None:
    rows = read_summaries(folders)
    assert set(rows["level"]) == {"image"}
    assert set(rows["source"]) == {"probe", "sup"}
    assert len(rows) == 9  # 3 fractions x (logistic, knn, end-to-end)
    assert len(read_summaries(folders, level="study")) == 3


def test_the_curve_has_one_line_per_model_and_probe(folders: list[Path], tmp_path: Path
                                                    ) -> None:
    out = plot_label_curve(read_summaries(folders), tmp_path / "curve.png")
    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] > 300 and image.shape[1] > 800
    with pytest.raises(DataError, match="no svm"):
        plot_label_curve(read_summaries(folders), tmp_path / "x.png", probes=("svm",))


def test_a_folder_without_a_summary_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"empty.*summary\.csv"):
        read_summaries([tmp_path / "empty"])


def test_the_command(folders: list[Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["label-curve", *map(str, folders), "--out",
                                      str(tmp_path / "c.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c.png").stat().st_size > 10_000
    bad = CliRunner().invoke(app, ["label-curve", str(tmp_path / "nope")])
    assert bad.exit_code == 2 and "error:" in bad.output
