"""The search against the grid (``compare_search``) on planted study folders: a search is a
subset of the grid's groups, copied with their predictions, so the answer is known."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from test_analysis import build_study

from medaug.errors import DataError
from medaug.study.search_compare import SEARCH_FILE, compare_search


def _search_from(grid: Path, folder: Path, keep: list[str], pruned: str | None = None) -> Path:
    """A search folder holding the grid's trials of the combinations ``keep`` (both methods,
    every CLAHE level and seed), its references, and optionally one more combination whose
    rows are PRUNED after seed 0 (its compute counts, its numbers do not)."""
    trials = pd.read_csv(grid / "trials.csv")
    done = trials[trials["state"] == "COMPLETE"]
    rows = done[done["combo"].isin(keep)].copy()
    if pruned is not None:
        cut = done[(done["combo"] == pruned) & (done["seed"] == 0)].copy()
        cut["state"] = "PRUNED"
        rows = pd.concat([rows, cut])
    folder.mkdir(parents=True)
    rows.to_csv(folder / "trials.csv", index=False)
    shutil.copy(grid / "references.csv", folder / "references.csv")
    for probe in rows["probe"]:
        shutil.copytree(grid / probe, folder / probe)
    return folder


@pytest.fixture(scope="module")
def grids(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("compare")
    return {"good": build_study(base / "good", extras=False),
            # no group's predictions beat another's: every group is the twin's copy
            "flat": build_study(base / "flat", good_combo="none", extras=False)}


def test_search_holding_the_winner_finds_it(grids: dict[str, Path], tmp_path: Path) -> None:
    grid = grids["good"]
    search = _search_from(grid, tmp_path / "s", ["crop+flip", "blur", "noise"], pruned="flip")
    record = compare_search(search, grid)
    assert json.loads((search / SEARCH_FILE).read_text()) == record
    methods = {m["method"]: m for m in record["methods"]}
    assert set(methods) == {"simclr", "byol"}
    for m in methods.values():
        assert m["same"] and m["tied"]
        assert m["grid_best"] == m["search_best"] == "crop+flip (clahe=on)"
    assert record["tied"]
    # compute: 3 of the grid's 9 combinations at 2 levels x 3 seeds, plus 2 pruned seed-0 rows
    # (one per method) and the grid's RUNNING/FAIL extras on the grid side
    grid_rows = pd.read_csv(grid / "trials.csv")
    assert record["grid_epochs"] == 10 * grid_rows["epochs_done"].notna().sum()
    assert record["search_epochs"] == 10 * (3 * 2 * 3 * 2 + 2 * 2)
    assert record["share_of_grid_epochs"] == pytest.approx(
        record["search_epochs"] / record["grid_epochs"], abs=1e-3)
    assert record["search_seconds"] == pytest.approx(150.0 * (3 * 2 * 3 + 2))
    assert record["grid_seconds"] == pytest.approx(grid_rows["seconds"].sum())
    assert 0 < record["share_of_grid"] < 0.5


def test_search_missing_the_winner_falls_short(grids: dict[str, Path], tmp_path: Path) -> None:
    """Without crop+flip the search's best is another group; on the grid's runs crop+flip's
    planted predictions beat it on validation by far: not tied."""
    grid = grids["good"]
    search = _search_from(grid, tmp_path / "s", ["crop", "blur", "noise"])
    record = compare_search(search, grid)
    for m in record["methods"]:
        assert not m["same"] and m["search_best"] == "crop (clahe=on)"
        assert m["seeds"] == 3
        assert m["low"] > 0 and m["difference"] > 0.1 and not m["tied"]
        assert m["p_value"] < 0.05
    assert not record["tied"]


def test_search_best_tied_on_flat_predictions(grids: dict[str, Path], tmp_path: Path) -> None:
    """The same miss where no group's predictions are better than another's: the paired
    validation difference holds 0, so the search's pick counts as tied."""
    grid = grids["flat"]
    search = _search_from(grid, tmp_path / "s", ["crop", "blur"])
    record = compare_search(search, grid)
    for m in record["methods"]:
        assert not m["same"]
        assert m["low"] <= 0 <= m["high"] and m["tied"]
    assert record["tied"]


def test_search_best_the_grid_never_ran(grids: dict[str, Path], tmp_path: Path) -> None:
    grid = grids["good"]
    search = _search_from(grid, tmp_path / "s", ["crop", "blur"])
    trials = pd.read_csv(search / "trials.csv")
    trials.loc[trials["combo"] == "crop", "combo"] = "crop+erase"
    trials.to_csv(search / "trials.csv", index=False)
    with pytest.raises(DataError, match="no trial of the search's best crop\\+erase"):
        compare_search(search, grid)
