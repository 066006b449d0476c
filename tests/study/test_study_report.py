"""The study's HTML report on the synthetic study of :mod:`test_analysis` (named
``test_study_report`` because ``tests/evaluate/test_report.py`` holds the plain name and the
test folders are not packages)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pandas as pd
import pytest
from test_analysis import build_study

from medaug.study.report import write_report

IMG = '<img src="data:image/png;base64,'


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = build_study(tmp_path_factory.mktemp("report") / "s")
    path = write_report(folder, n_boot=200)
    return folder, path.read_text(encoding="utf-8")


def test_report_answer_first_with_planted_best(report: tuple[Path, str]) -> None:
    folder, page = report
    assert (folder / "report.html").is_file()
    answer = page[page.index("1. The answer"):page.index("2. Ranking")]
    for method in ("simclr", "byol"):
        item = re.search(rf"<b>{method}</b>: ([^<]*)</li>", answer)
        assert item is not None
        text = item.group(1)
        assert text.startswith("recommended combination crop+flip (clahe=on)")
        assert "highest mean validation AUROC" in text
        assert "supervised reference reaches test AUROC 0.940" in text  # 0.93, .94, .95
        low = float(re.search(r"on test [-0-9.]+ \[([-0-9.]+),", text).group(1))
        assert low > 0
    assert "no combination beat random init" not in page
    order = ["1. The answer", "2. Ranking", "3. Op", "4. Op main", "5. Factor", "6. The orig",
             "7. Validation", "8. Follow", "9. Per body", "10. Compute", "Settings"]
    positions = [page.index(s) for s in order]
    assert positions == sorted(positions)


def test_report_files_images_and_no_urls(report: tuple[Path, str]) -> None:
    folder, page = report
    pngs = sorted((folder / "report").glob("*.png"))
    names = {p.stem for p in pngs}
    assert {"ranking_simclr", "ranking_byol", "heatmap_simclr", "heatmap_byol",
            "op_main_effects", "factor_effects", "val_vs_test", "label_efficiency",
            "compute"} <= names
    assert all(p.stat().st_size > 1000 for p in pngs)
    # one inlined image per figure plus the Grad-CAM panel, each the file's bytes
    assert page.count(IMG) == len(pngs) + 1
    for p in pngs:
        assert base64.b64encode(p.read_bytes()).decode("ascii") in page
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", page, re.I)
    assert "<script" not in page.lower() and "<link" not in page.lower()
    csvs = {p.stem for p in (folder / "report").glob("*.csv")}
    assert {"ranking_simclr", "op_main_effects", "factor_effects", "sensitivity_spreads",
            "sensitivity_differences", "rank_agreement", "compute", "trial_states",
            "parts_recommended", "op_matrix_byol"} <= csvs
    assert page.count("<table") >= len(csvs) - 1  # search.csv has no table of its own
    ranking = pd.read_csv(folder / "report" / "ranking_byol.csv")
    assert ranking.iloc[0]["combo"] == "crop+flip" and ranking.iloc[0]["rank"] == 1


def test_report_sections_content(report: tuple[Path, str]) -> None:
    _, page = report
    assert "saving 75.0%" in page and "tied with" in page
    assert "synthetic" in page and "RUNNING" in page  # study.json and trial states
    assert "Only one method" not in page
    assert "No imbalance factor" in page


def test_report_no_winner(tmp_path: Path) -> None:
    folder = build_study(tmp_path / "s", good_combo="none-of-them", extras=False)
    page = write_report(folder, n_boot=100).read_text(encoding="utf-8")
    answer = page[page.index("1. The answer"):page.index("2. Ranking")]
    assert answer.count("no combination beat random init") == 2


def test_report_minimal_study_does_not_crash(tmp_path: Path) -> None:
    folder = build_study(tmp_path / "s", methods=("byol",), factors=False, extras=False)
    (folder / "references.csv").unlink()
    page = write_report(folder, n_boot=50).read_text(encoding="utf-8")
    assert "Only one method in the study" in page
    assert "No factor with two or more levels" in page
    assert "no supervised reference" in page
    assert "No study.json" in page and "No search.json" in page
    assert "One body part only" in page


def test_the_random_init_band_says_when_one_run_has_no_spread() -> None:
    from medaug.study.report import random_band_text

    assert random_band_text(0.7551, 0.0213, 3) == "random init 0.755 ± 0.021, 3 runs"
    assert random_band_text(0.946, float("nan"), 1) == "random init 0.946, 1 run: no spread"
    assert "nan" not in random_band_text(0.9, float("nan"), 2)
