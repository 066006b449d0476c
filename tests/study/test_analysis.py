"""The study analysis on a synthetic study folder with planted answers.

Planted (see :func:`build_study`): two methods (simclr, byol), ops crop/flip/blur/noise as
singles and pairs (``blur+noise`` never ran), factor ``clahe`` off/on, seeds 0-2. Test AUROC =
0.70 + crop effect + noise effect (negative) + a bonus for ``crop+flip`` (the best combo) +
0.02 for clahe=on; simclr's op effects are three times byol's (augmentation-sensitive).
Predictions: the SSL model of ``crop+flip`` separates the classes far better than its
random-init twin; every other SSL model is exactly as good as its twin.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from medaug.study.analysis import (
    compute_summary,
    load_study_tables,
    per_part,
    pooled_paired_gain,
    random_reference_band,
    rank_agreement,
    rank_groups,
)
from medaug.study.effects import (
    augmentation_sensitivity,
    factor_effects,
    op_main_effects,
    op_matrix,
)
from medaug.study.layout import REFERENCE_COLUMNS, TRIAL_COLUMNS

OPS = ("blur", "crop", "flip", "noise")
COMBOS = (*OPS, *(f"{a}+{b}" for i, a in enumerate(OPS) for b in OPS[i + 1:]
                  if (a, b) != ("blur", "noise")))
SCALE = {"simclr": 3.0, "byol": 1.0}
N_IMAGES = 160  # per split


def planted_auroc(method: str, combo: str, clahe: str) -> float:
    """The planted test AUROC of a group (no seed effect)."""
    ops = combo.split("+")
    s = SCALE[method]
    return (0.70 + s * 0.02 * ("crop" in ops) - s * 0.01 * ("noise" in ops)
            + s * 0.02 * (combo == "crop+flip") + 0.02 * (clahe == "on"))


def _predictions(rng: np.random.Generator, method: str, combo: str, seed: int,
                 good: bool) -> pd.DataFrame:
    """One trial's predictions.csv: val rows 0..N-1, test rows N..2N-1, two images a patient;
    label-subset seed 0 and a decoy seed 1 / knn probe that must be ignored."""
    n = 2 * N_IMAGES
    row = np.arange(n)
    split = np.where(row < N_IMAGES, "val", "test")
    label = (row % 2).astype(int)
    patient = [f"p{r // 2}" for r in row]
    twin = 0.6 * label + rng.normal(0, 1, n)
    ssl = (2.5 * label + rng.normal(0, 1, n)) if good else twin.copy()
    frames = []
    for model, score in ((f"{method}-{combo}-{seed}", ssl),
                         (f"random-init(resnet18@{seed})", twin)):
        prob = 1 / (1 + np.exp(-score))
        for probe, subset in (("logistic", 0), ("logistic", 1), ("knn", 0)):
            frames.append(pd.DataFrame({
                "model": model, "probe": probe, "fraction": 1.0, "seed": subset,
                "split": split, "row": row, "patient_id": patient, "study_id": patient,
                "label": label, "prob": prob if (probe, subset) == ("logistic", 0) else 0.5}))
    return pd.concat(frames, ignore_index=True)


def _metric_row(rng: np.random.Generator, auroc: float) -> dict[str, float]:
    row: dict[str, float] = {}
    for m in ("auroc", "kappa", "sensitivity", "specificity", "balanced_accuracy"):
        v = auroc if m == "auroc" else auroc - 0.2
        row[f"test_{m}"], row[f"test_{m}_lo"], row[f"test_{m}_hi"] = v, v - 0.04, v + 0.04
    row["val_auroc"] = auroc + 0.01 + rng.normal(0, 0.001)
    row["val_auroc_lo"], row["val_auroc_hi"] = row["val_auroc"] - 0.04, row["val_auroc"] + 0.04
    row["val_logloss"] = 1.0 - auroc
    return row


def build_study(folder: Path, good_combo: str = "crop+flip", methods: tuple[str, ...] =
                ("simclr", "byol"), factors: bool = True, extras: bool = True) -> Path:
    """Write a synthetic study folder (see the module docstring) and return it."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    trials, refs = [], []
    levels = ("off", "on") if factors else ("off",)
    n = 0
    for method in methods:
        for combo in COMBOS:
            for clahe in levels:
                for seed in range(3):
                    n += 1
                    key = f"{method}-{combo}-{clahe}-{seed}"
                    probe = f"runs/{key}/probe"
                    auroc = planted_auroc(method, combo, clahe) + rng.normal(0, 0.002)
                    row = {c: np.nan for c in TRIAL_COLUMNS}
                    row.update(trial=n, state="COMPLETE", key=key, method=method, combo=combo,
                               ops=combo, seed=seed, random_test_auroc=0.65,
                               diff_vs_random=auroc - 0.65, diff_lo=auroc - 0.70,
                               diff_hi=auroc - 0.60, diff_p=0.01,
                               gain_vs_random_mean=auroc - 0.65, epochs_done=10,
                               seconds=100.0 if method == "simclr" else 50.0, device="cpu",
                               run=f"runs/{key}", probe=probe, **_metric_row(rng, auroc))
                    if factors:
                        row["clahe"] = clahe
                    trials.append(row)
                    p = _predictions(rng, method, combo, seed, combo == good_combo)
                    (folder / probe).mkdir(parents=True, exist_ok=True)
                    p.to_csv(folder / probe / "predictions.csv", index=False)
    for extra, state in ((1, "RUNNING"), (2, "FAIL")):
        row = {c: np.nan for c in TRIAL_COLUMNS}
        row.update(trial=n + extra, state=state, method=methods[0], combo="crop", seed=0,
                   seconds=7.0)
        if factors:
            row["clahe"] = "off"
        trials.append(row)
    for kind, base in (("random", 0.65), ("supervised", 0.93)):
        for clahe in levels:
            for seed in range(3):
                row = {c: np.nan for c in REFERENCE_COLUMNS}
                row.update(kind=kind, key=f"{kind}-{clahe}-{seed}", seed=seed, state="COMPLETE",
                           seconds=10.0, **_metric_row(rng, base + 0.01 * seed))
                if factors:
                    row["clahe"] = clahe
                refs.append(row)
    pd.DataFrame(trials).to_csv(folder / "trials.csv", index=False)
    pd.DataFrame(refs).to_csv(folder / "references.csv", index=False)
    if extras:
        parts = pd.DataFrame({"row": np.arange(2 * N_IMAGES),
                              "part": np.where(np.arange(2 * N_IMAGES) % 4 < 2, "knee",
                                               "wrist")})
        parts.to_csv(folder / "parts.csv", index=False)
        (folder / "study.json").write_text(json.dumps({"name": "synthetic", "seeds": [0, 1, 2],
                                                       "space": {"preset": "pairs"}}))
        (folder / "search.json").write_text(json.dumps({
            "grid_seconds": 4000, "search_seconds": 1000, "grid_best": "crop+flip",
            "search_best": "crop+flip", "tied": True, "tie_p": 0.8}))
        follow = folder / "followup"
        (follow / "gradcam").mkdir(parents=True, exist_ok=True)
        curves = [{"method": m, "combo": c, "role": role, "fraction": f,
                   "test_auroc": 0.6 + 0.1 * f, "test_auroc_lo": 0.55 + 0.1 * f,
                   "test_auroc_hi": 0.65 + 0.1 * f}
                  for m in methods for c, role in (("crop+flip", "best"), ("noise", "worst"))
                  for f in (0.1, 0.5, 1.0)]
        pd.DataFrame(curves).to_csv(follow / "label_efficiency.csv", index=False)
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.imshow(rng.random((8, 8)))
        fig.savefig(follow / "gradcam" / "crop+flip.png")
        plt.close(fig)
    return folder


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_study(tmp_path_factory.mktemp("study") / "s")


def test_tables_factors_and_states(study: Path) -> None:
    t = load_study_tables(study)
    assert t.factors == ("clahe",)
    assert t.reference_factors == ("clahe",)
    assert len(t.complete) == 2 * len(COMBOS) * 2 * 3
    counts = dict(zip(t.state_counts["state"], t.state_counts["trials"], strict=True))
    assert counts == {"COMPLETE": len(t.complete), "RUNNING": 1, "FAIL": 1}


def test_ranking_picks_planted_best_on_validation(study: Path) -> None:
    ranking = rank_groups(load_study_tables(study))
    assert ranking.criteria == {"simclr": "val_auroc", "byol": "val_auroc"}
    for method in ("simclr", "byol"):
        best = ranking.best(method)
        assert (best["combo"], best["clahe"], best["seeds"]) == ("crop+flip", "on", 3)
        assert best["test_auroc"] == pytest.approx(planted_auroc(method, "crop+flip", "on"),
                                                   abs=0.005)
        # pooled normal interval of three per-seed intervals of half-width 0.05
        half = 1.96 * np.sqrt(3 * (0.05 / 1.96) ** 2) / 3
        assert best["diff_hi"] - best["diff_lo"] == pytest.approx(2 * half, rel=1e-3)


def test_saturated_validation_ranks_on_logloss(study: Path) -> None:
    t = load_study_tables(study)
    trials = t.trials.copy()
    trials["val_auroc"] = 0.99
    trials.loc[trials["combo"] == "noise", "val_logloss"] = 0.01  # planted best log-loss
    ranking = rank_groups(type(t)(t.folder, trials, t.references, t.factors,
                                  t.reference_factors))
    assert ranking.criteria["simclr"] == "val_logloss"
    assert ranking.best("simclr")["combo"] == "noise"


def test_pooled_paired_gain(study: Path) -> None:
    t = load_study_tables(study)
    done = t.complete
    good = done[(done["method"] == "byol") & (done["combo"] == "crop+flip")
                & (done["clahe"] == "on")]
    gain = pooled_paired_gain(study, good, n_boot=300)
    # independent point estimate: sklearn on each seed's test rows of subset seed 0
    expected = []
    for _, trial in good.iterrows():
        p = pd.read_csv(study / trial["probe"] / "predictions.csv")
        p = p[(p["split"] == "test") & (p["probe"] == "logistic") & (p["seed"] == 0)]
        twin = p[p["model"].str.startswith("random-init")]
        ssl = p[~p["model"].str.startswith("random-init")]
        expected.append(roc_auc_score(ssl["label"], ssl["prob"])
                        - roc_auc_score(twin["label"], twin["prob"]))
    assert gain.gain == pytest.approx(np.mean(expected))
    assert gain.seeds == 3 and gain.replicates == 300
    assert 0 < gain.low < gain.gain < gain.high
    null = done[(done["method"] == "byol") & (done["combo"] == "crop") & (done["clahe"] == "on")]
    zero = pooled_paired_gain(study, null, n_boot=100)
    assert zero.gain == pytest.approx(0.0) and zero.low <= 0 <= zero.high


def test_random_band(study: Path) -> None:
    mean, sd, n = random_reference_band(load_study_tables(study), {"clahe": "on"})
    values = [0.65, 0.66, 0.67]
    assert (mean, sd, n) == (pytest.approx(np.mean(values)),
                             pytest.approx(np.std(values, ddof=1)), 3)


def test_op_main_effects_signs(study: Path) -> None:
    eff = op_main_effects(load_study_tables(study))
    test = eff[eff["metric"] == "test"].set_index(["method", "term"])
    for method in ("simclr", "byol"):
        crop = test.loc[(method, "crop")]
        assert crop["n"] == 6  # 3 seeds x 2 clahe levels
        assert 0 < crop["lo"] < crop["effect"] < crop["hi"]
        noise = test.loc[(method, "noise")]
        assert noise["hi"] < 0
    assert test.loc[("simclr", "crop"), "effect"] > test.loc[("byol", "crop"), "effect"]
    assert set(eff["metric"]) == {"test", "val"}


def test_factor_effect_clahe(study: Path) -> None:
    fac = factor_effects(load_study_tables(study)).set_index("method")
    assert set(fac.index) == {"simclr", "byol", "all"}
    for method in fac.index:
        row = fac.loc[method]
        assert (row["factor"], row["level"], row["reference"]) == ("clahe", "on", "off")
        assert row["lo"] < 0.02 < row["hi"] and row["lo"] > 0
    assert fac.loc["all", "n"] == 2 * fac.loc["byol", "n"] == 2 * len(COMBOS) * 3


def test_sensitivity_simclr_more_spread(study: Path) -> None:
    spreads, diffs = augmentation_sensitivity(load_study_tables(study), n_boot=500)
    s = spreads.set_index("method")["spread"]
    assert s["simclr"] > 2 * s["byol"]
    row = diffs.iloc[0]
    sign = 1 if row["a"] == "simclr" else -1
    assert sign * row["lo"] > 0 or sign * row["hi"] < 0  # interval excludes 0
    assert sign * row["difference"] > 0 and row["combos"] == len(COMBOS)


def test_op_matrix(study: Path) -> None:
    t = load_study_tables(study)
    m = op_matrix(t, "simclr")
    assert list(m.index) == list(OPS) == list(m.columns)
    done = t.complete
    crop = done[(done["method"] == "simclr") & (done["combo"] == "crop")]["test_auroc"].mean()
    assert m.loc["crop", "crop"] == pytest.approx(crop)
    assert m.loc["crop", "flip"] == m.loc["flip", "crop"] == np.nanmax(m.to_numpy())
    assert np.isnan(m.loc["blur", "noise"])  # never ran


def test_rank_agreement_and_compute(study: Path) -> None:
    t = load_study_tables(study)
    agree = rank_agreement(rank_groups(t), n_boot=200).set_index("method")
    assert (agree["rho"] > 0.8).all() and (agree["rho_lo"] <= agree["rho"]).all()
    comp = compute_summary(t).set_index("what")
    assert comp.loc["simclr", "mean_seconds"] == pytest.approx(
        (100 * len(COMBOS) * 6 + 14) / (len(COMBOS) * 6 + 2))
    assert comp.loc["references", "total_seconds"] == 12 * 10
    assert comp.loc["total", "total_seconds"] == pytest.approx(
        comp.drop("total")["total_seconds"].sum())


def test_per_part(study: Path) -> None:
    t = load_study_tables(study)
    table, best = per_part(t, rank_groups(t))
    assert set(table["part"]) == {"knee", "wrist"}
    assert set(best["combo"]) == {"crop+flip"} and len(best) == 4  # 2 methods x 2 parts
    assert (best["test_auroc"] > 0.85).all()
