"""Which images the explain panel shows (``medaug.explain.selection``).

Pinned here: ``outcomes`` labels each image TP/FN/FP/TN with ``probs >= threshold`` called
abnormal; ``mixed_rows`` cycles TP, FN, FP, TN, draws reproducibly from its seed, skips an
exhausted outcome, never repeats a row and never invents one; ``rows_for_paths`` finds a
manifest row by its exact path, by the end of its path, or by ``FILE#INDEX`` for array files,
and raises a ``ConfigError`` naming the path for a missing or ambiguous one.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medaug.errors import ConfigError
from medaug.explain.selection import OUTCOMES, mixed_rows, outcomes, rows_for_paths

# ---------------------------------------------------------------------------- outcomes


def test_outcomes_hand_made_example() -> None:
    labels = np.array([1, 1, 0, 0, 1, 0])
    probs = np.array([0.9, 0.2, 0.7, 0.1, 0.5, 0.5])
    got = outcomes(labels, probs, threshold=0.5)
    assert got.tolist() == ["TP", "FN", "FP", "TN", "TP", "FP"]


def test_outcomes_threshold_is_inclusive() -> None:
    labels = np.array([1, 0])
    probs = np.array([0.3, 0.3])
    assert outcomes(labels, probs, 0.3).tolist() == ["TP", "FP"]
    assert outcomes(labels, np.nextafter(probs, 0), 0.3).tolist() == ["FN", "TN"]


def test_outcomes_accepts_boolean_and_float_labels() -> None:
    got = outcomes(np.array([True, False, 1.0, 0.0]), np.array([0.1, 0.9, 0.8, 0.2]), 0.5)
    assert got.tolist() == ["FN", "FP", "TP", "TN"]


# -------------------------------------------------------------------------- mixed_rows


def _balanced(per_kind: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Row ids (not positions: they start at 100 and skip) with ``per_kind`` of each outcome,
    interleaved so that no outcome sits in one block."""
    kinds = np.array([OUTCOMES[i % 4] for i in range(4 * per_kind)])
    rows = 100 + 3 * np.arange(4 * per_kind)
    return rows, kinds


def _kinds_of(picked: np.ndarray, rows: np.ndarray, kinds: np.ndarray) -> list[str]:
    lookup = dict(zip(rows.tolist(), kinds.tolist(), strict=True))
    return [lookup[int(r)] for r in picked]


def test_mixed_rows_cycles_tp_fn_fp_tn() -> None:
    rows, kinds = _balanced()
    picked = mixed_rows(rows, kinds, count=10, seed=0)
    assert picked.dtype == np.int64
    assert len(picked) == 10
    assert _kinds_of(picked, rows, kinds) == ["TP", "FN", "FP", "TN"] * 2 + ["TP", "FN"]


def test_mixed_rows_same_seed_same_rows_other_seed_other_rows() -> None:
    rows, kinds = _balanced(per_kind=8)
    first = mixed_rows(rows, kinds, count=8, seed=3)
    again = mixed_rows(rows, kinds, count=8, seed=3)
    other = mixed_rows(rows, kinds, count=8, seed=4)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    # both seeds still follow the outcome cycle
    assert _kinds_of(other, rows, kinds) == list(OUTCOMES) * 2


def test_mixed_rows_skips_an_exhausted_outcome_and_still_reaches_count() -> None:
    kinds = np.array(["TP"] * 4 + ["FN"] + ["TN"] * 4)  # one FN, no FP
    rows = np.arange(len(kinds)) * 7 + 1
    picked = mixed_rows(rows, kinds, count=7, seed=0)
    assert len(picked) == 7
    assert _kinds_of(picked, rows, kinds) == ["TP", "FN", "TN", "TP", "TN", "TP", "TN"]


def test_mixed_rows_returns_every_row_when_count_exceeds_them() -> None:
    kinds = np.array(["TN", "TP", "TP", "FP", "TN"])
    rows = np.array([40, 11, 12, 7, 3])
    picked = mixed_rows(rows, kinds, count=50, seed=1)
    assert len(picked) == len(rows)
    assert sorted(picked.tolist()) == sorted(rows.tolist())


def test_mixed_rows_only_given_rows_and_no_repeats() -> None:
    rng = np.random.default_rng(0)
    rows = rng.choice(10_000, size=37, replace=False)
    kinds = rng.choice(np.array(OUTCOMES), size=37, p=[0.5, 0.1, 0.1, 0.3])
    for count in (1, 5, 20, 37, 60):
        picked = mixed_rows(rows, kinds, count=count, seed=count)
        assert len(picked) == min(count, len(rows))
        assert len(np.unique(picked)) == len(picked)
        assert set(picked.tolist()) <= set(rows.tolist())


def test_mixed_rows_count_zero_is_empty() -> None:
    rows, kinds = _balanced()
    picked = mixed_rows(rows, kinds, count=0)
    assert picked.shape == (0,)
    assert picked.dtype == np.int64


# ---------------------------------------------------------------------- rows_for_paths


def _manifest(root: Path) -> pd.DataFrame:
    paths = [root / "data" / "KL0" / "x.png", root / "data" / "KL4" / "a.png",
             root / "data" / "KL2" / "b.png", root / "data" / "KL4" / "c.png"]
    return pd.DataFrame({"path": [str(p) for p in paths], "index": [0, 0, 0, 0],
                         "label": [0, 1, 0, 1], "patient_id": ["p1", "p2", "p3", "p4"]})


def test_rows_for_paths_exact_path(tmp_path: Path) -> None:
    frame = _manifest(tmp_path)
    got = rows_for_paths(frame, [str(tmp_path / "data" / "KL4" / "a.png")], "knee")
    assert got.tolist() == [1]
    assert got.dtype == np.int64


def test_rows_for_paths_same_file_spelled_differently(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _manifest(tmp_path)
    dotted = str(tmp_path / "data" / "KL0" / ".." / "KL2" / "b.png")
    monkeypatch.chdir(tmp_path)
    got = rows_for_paths(frame, [dotted, "data/KL4/c.png", "./data/KL0/x.png"], "knee")
    assert got.tolist() == [2, 3, 0]


def test_rows_for_paths_by_class_folder_and_file_name(tmp_path: Path) -> None:
    frame = _manifest(tmp_path)
    got = rows_for_paths(frame, ["KL4/a.png", "b.png", "KL4/c.png", "data/KL0/x.png"], "knee")
    assert got.tolist() == [1, 2, 3, 0]


def test_rows_for_paths_keeps_order_and_repeats(tmp_path: Path) -> None:
    frame = _manifest(tmp_path)
    got = rows_for_paths(frame, ["KL4/c.png", "KL0/x.png", "KL4/c.png"], "knee")
    assert got.tolist() == [3, 0, 3]


def test_rows_for_paths_npz_file_hash_index(tmp_path: Path) -> None:
    npz = tmp_path / "medmnist" / "pneumoniamnist.npz"
    frame = pd.DataFrame({"path": [str(npz)] * 5, "index": [4, 2, 0, 3, 1],
                          "label": [1, 0, 1, 0, 1], "patient_id": list("abcde")})
    assert rows_for_paths(frame, [f"{npz}#2"], "pneumonia").tolist() == [1]
    assert rows_for_paths(frame, ["pneumoniamnist.npz#0", "medmnist/pneumoniamnist.npz#4"],
                          "pneumonia").tolist() == [2, 0]
    with pytest.raises(ConfigError, match=re.escape("pneumoniamnist.npz#9")):
        rows_for_paths(frame, ["pneumoniamnist.npz#9"], "pneumonia")
    # without #INDEX every row shares the file: ambiguous
    with pytest.raises(ConfigError, match="matches 5"):
        rows_for_paths(frame, [str(npz)], "pneumonia")


def test_rows_for_paths_unknown_path_names_it(tmp_path: Path) -> None:
    frame = _manifest(tmp_path)
    for given in ["KL3/a.png", str(tmp_path / "data" / "KL4" / "zzz.png"), "a.png.bak"]:
        with pytest.raises(ConfigError, match=re.escape(given)) as info:
            rows_for_paths(frame, ["KL4/a.png", given], "knee")
        assert "knee" in str(info.value)


def test_rows_for_paths_suffix_must_end_at_a_folder_boundary(tmp_path: Path) -> None:
    frame = _manifest(tmp_path)  # ".../KL4/a.png" ends with "L4/a.png", but not at a "/"
    with pytest.raises(ConfigError, match=re.escape("L4/a.png")):
        rows_for_paths(frame, ["L4/a.png"], "knee")


def test_rows_for_paths_ambiguous_suffix_names_both(tmp_path: Path) -> None:
    one, two = tmp_path / "data" / "KL3" / "a.png", tmp_path / "data" / "KL4" / "a.png"
    frame = pd.DataFrame({"path": [str(tmp_path / "data" / "KL0" / "b.png"), str(one), str(two)],
                          "index": [0, 0, 0], "label": [0, 1, 1],
                          "patient_id": ["p1", "p2", "p3"]})
    with pytest.raises(ConfigError) as info:
        rows_for_paths(frame, ["a.png"], "knee")
    message = str(info.value)
    assert message.startswith("a.png:")
    assert "matches 2" in message
    assert str(one) in message and str(two) in message
    # more of the path settles it
    assert rows_for_paths(frame, ["KL3/a.png", "KL4/a.png"], "knee").tolist() == [1, 2]
