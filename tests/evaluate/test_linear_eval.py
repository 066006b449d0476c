"""``run_probe`` end to end on tiny planted data: the evaluation folder, label fractions and
seeds, the random-init twin of a run folder and its paired comparison, the feature cache, and
every bad input (16 px images, ``resnet18-small``, one tiny pretraining run per module)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import tiny_npz
from medaug.data.cache import build_cache
from medaug.data.config import DataConfig, PrepareConfig
from medaug.data.datasets import load_dataset
from medaug.data.preprocess import PreprocessConfig
from medaug.errors import ConfigError, DataError
from medaug.evaluate.encoders import random_backbone, weights_sha256
from medaug.evaluate.linear_eval import ProbeConfig, probe_encoder, resolve_encoders, run_probe
from medaug.evaluate.scoring import COMPARISON_COLUMNS, PREDICTION_COLUMNS
from medaug.store import export_encoder
from medaug.train.pretrain import run_pretrain
from medaug.train.pretrain_config import PretrainConfig

SIZE = 16
N_TRAIN, N_VAL, N_TEST = 32, 16, 16  # every image its own patient
BACKBONE = "resnet18-small"
RUN_SEED = 3  # not 0, so that the run's twin differs from random:resnet18-small@0
TWIN = f"random-init({BACKBONE}@{RUN_SEED})"
RANDOM0 = f"random-init({BACKBONE}@0)"
FILES = ("evaluation.json", "predictions.csv", "metrics.csv", "summary.csv", "comparisons.csv")


@dataclass
class Evaluated:
    """The module's data, pretraining run and first evaluation (of random@0 and the run)."""

    npz: Path
    fingerprint: str
    data: PrepareConfig
    run: Path
    out: Path
    config: ProbeConfig
    messages: list[str]


def _data(npz: Path) -> PrepareConfig:
    return PrepareConfig(DataConfig(f"medmnist:{npz}"), PreprocessConfig(size=SIZE, clahe=False))


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evaluated]:
    # module fixtures run before the autouse cache fixture: point the cache at the same folder
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDAUG_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        base = tmp_path_factory.mktemp("linear_eval")
        npz = tiny_npz(base / "tiny.npz", n_train=N_TRAIN, n_val=N_VAL,
                       n_test=N_TEST, size=SIZE)
        data = _data(npz)
        # the encoder: two SimCLR steps on a smaller set of the same kind of images
        pre = tiny_npz(base / "pre.npz", n_train=16, n_val=8, n_test=8, size=SIZE, seed=1)
        run = base / "run"
        run_pretrain(_data(pre), PretrainConfig(method="simclr", ops="flip", backbone=BACKBONE,
                                                epochs=1, batch_size=8, accelerator="cpu",
                                                method_args="proj_hidden=64,proj_dim=32",
                                                seed=RUN_SEED),
                     run, say=None, progress=False)
        config = ProbeConfig(fractions=(0.5, 1.0), seeds=2, bootstrap=100, device="cpu")
        messages: list[str] = []
        run_probe(data, [f"random:{BACKBONE}@0", str(run)], config, base / "eval",
                  say=messages.append)
        fingerprint = build_cache(load_dataset(data.data.dataset), data.preprocess,
                                  progress=False).fingerprint
        yield Evaluated(npz, fingerprint, data, run, base / "eval", config, messages)


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / name, dtype={"patient_id": str, "study_id": str})


# --- ProbeConfig -------------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"fractions": (0.0,)}, "fractions"),
    ({"fractions": (0.5, 1.5)}, "fractions"),
    ({"fractions": ()}, "fractions"),
    ({"seeds": 0}, "seeds"),
    ({"probes": ("svm",)}, "probes"),
    ({"probes": ()}, "probes"),
    ({"class_weight": "x"}, "class_weight"),
    ({"bootstrap": 10}, "bootstrap"),
    ({"ci": 1.0}, "ci"),
    ({"ci": 0.5}, "ci"),
    ({"knn_k": 0}, "knn_k"),
])
def test_probe_config_rejects_bad_values(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        ProbeConfig(**kwargs)


def test_probe_config_lists_every_bad_value_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        ProbeConfig(seeds=0, bootstrap=10)
    assert "seeds" in str(info.value) and "bootstrap" in str(info.value)


def test_probe_config_rejects_an_unknown_threshold_rule() -> None:
    with pytest.raises(ConfigError, match="threshold"):
        ProbeConfig(threshold="bogus")


# --- probe_encoder on made-up features ---------------------------------------------------------


def test_probe_encoder_scores_val_and_test_for_every_probe_fraction_and_seed() -> None:
    rng = np.random.default_rng(0)
    n = 60
    labels = np.arange(n) % 2
    feats = (np.eye(2)[labels] + 0.1 * rng.normal(size=(n, 2))).astype(np.float32)
    frame = pd.DataFrame({"label": labels, "patient_id": [f"p{i}" for i in range(n)],
                          "study_id": [f"s{i}" for i in range(n)]})
    rows = {"train": np.arange(0, 40), "val": np.arange(40, 50), "test": np.arange(50, 60)}
    config = ProbeConfig(fractions=(0.5, 1.0), seeds=2, bootstrap=100, knn_k=5)
    preds = pd.concat(probe_encoder("m", feats, frame, rows, config), ignore_index=True)
    keys = set(preds[["probe", "fraction", "seed"]].itertuples(index=False, name=None))
    assert keys == {(p, f, s) for p in ("logistic", "knn")
                    for f, s in ((0.5, 0), (0.5, 1), (1.0, 0))}
    for _, group in preds.groupby(["probe", "fraction", "seed"]):
        assert sorted(group.loc[group["split"] == "val", "row"]) == list(range(40, 50))
        assert sorted(group.loc[group["split"] == "test", "row"]) == list(range(50, 60))
    assert set(preds["split"]) == {"val", "test"}  # the train rows are never scored
    assert preds["prob"].between(0, 1).all()
    np.testing.assert_array_equal(preds["label"], labels[preds["row"]])
    # the features are the labels: every probe ranks the test images perfectly
    test = preds[preds["split"] == "test"]
    for _, group in test.groupby(["probe", "fraction", "seed"]):
        assert group.loc[group["label"] == 1, "prob"].min() > \
            group.loc[group["label"] == 0, "prob"].max()


# --- run_probe ---------------------------------------------------------------------------------


def test_run_probe_writes_the_evaluation_folder(evaluated: Evaluated) -> None:
    for name in FILES:
        assert (evaluated.out / name).is_file(), name
    preds = _read(evaluated.out, "predictions.csv")
    assert list(preds.columns) == list(PREDICTION_COLUMNS)
    assert preds["prob"].between(0, 1).all() and preds["prob"].notna().all()
    assert set(preds["split"]) == {"val", "test"}
    models = {RANDOM0, "run", TWIN}
    assert set(preds["model"]) == models
    expected = {(m, p, f, s) for m in models for p in ("logistic", "knn")
                for f, s in ((0.5, 0), (0.5, 1), (1.0, 0))}
    groups = preds.groupby(["model", "probe", "fraction", "seed"])
    assert set(groups.groups) == expected
    for _, group in groups:
        assert (group["split"] == "val").sum() == N_VAL
        assert (group["split"] == "test").sum() == N_TEST
        assert group["row"].is_unique
    metrics = _read(evaluated.out, "metrics.csv")
    auroc = metrics[(metrics["metric"] == "auroc") & (metrics["level"] == "image")]
    assert set(auroc[["model", "probe", "fraction", "seed"]].itertuples(index=False, name=None)
               ) == expected
    assert auroc["value"].between(0, 1).all() and (auroc["replicates"] > 0).all()
    assert (auroc["n"] == N_TEST).all() and (auroc["n_patients"] == N_TEST).all()
    summary = _read(evaluated.out, "summary.csv")
    assert len(summary) == len(models) * 2 * 2  # model x probe x fraction (image level only)
    assert set(summary.loc[summary["fraction"] == 0.5, "seeds"]) == {2}
    assert set(summary.loc[summary["fraction"] == 1.0, "seeds"]) == {1}


def test_run_probe_compares_the_run_with_its_random_init_twin(evaluated: Evaluated) -> None:
    comparisons = _read(evaluated.out, "comparisons.csv")
    assert list(comparisons.columns) == list(COMPARISON_COLUMNS)
    # the twin (the run's backbone at the run's seed) was added without being asked for, and
    # the explicitly given random@0 is not what the run is compared with
    assert set(comparisons["model_a"]) == {"run"}
    assert set(comparisons["model_b"]) == {TWIN}
    assert set(comparisons[["probe", "fraction", "seed"]].itertuples(index=False, name=None)
               ) == {(p, f, s) for p in ("logistic", "knn")
                     for f, s in ((0.5, 0), (0.5, 1), (1.0, 0))}
    assert set(comparisons["metric"]) == {"auroc"} and set(comparisons["level"]) == {"image"}
    np.testing.assert_allclose(comparisons["difference"],
                               comparisons["value_a"] - comparisons["value_b"], atol=1e-9)
    assert (comparisons["ci_low"] <= comparisons["difference"] + 1e-12).all()
    assert (comparisons["difference"] <= comparisons["ci_high"] + 1e-12).all()
    assert comparisons["p_value"].between(0, 1).all()
    assert (comparisons["n"] == N_TEST).all()
    # value_a/value_b are the AUROCs of metrics.csv for the same probe, fraction and seed
    metrics = _read(evaluated.out, "metrics.csv")
    auroc = metrics[(metrics["metric"] == "auroc") & (metrics["level"] == "image")]
    for row in comparisons.itertuples():
        for model, value in (("run", row.value_a), (TWIN, row.value_b)):
            m = auroc[(auroc["model"] == model) & (auroc["probe"] == row.probe)
                      & (auroc["fraction"] == row.fraction) & (auroc["seed"] == row.seed)]
            assert m["value"].iat[0] == pytest.approx(value)


def test_evaluation_json_records_data_models_and_settings(evaluated: Evaluated) -> None:
    record = json.loads((evaluated.out / "evaluation.json").read_text())
    assert record["kind"] == "probe"
    assert record["data"]["fingerprint"] == evaluated.fingerprint
    assert record["data"]["images"] == {"train": N_TRAIN, "val": N_VAL,
                                         "test": N_TEST}
    assert record["config"]["data"]["dataset"] == f"medmnist:{evaluated.npz}"
    assert record["config"]["preprocess"]["size"] == SIZE
    probe = record["config"]["probe"]
    assert probe == json.loads(json.dumps(dataclasses.asdict(evaluated.config)))
    assert probe["fractions"] == [0.5, 1.0] and probe["seeds"] == 2
    assert probe["bootstrap"] == 100 and probe["probes"] == ["logistic", "knn"]
    assert probe["random_baseline"] is True and probe["threshold"] == "youden"
    models = record["models"]
    assert set(models) == {RANDOM0, "run", TWIN}
    encoder_bytes = (evaluated.run / "encoder.pt").read_bytes()
    assert models["run"]["weights_sha256"] == hashlib.sha256(encoder_bytes).hexdigest()
    assert models["run"]["spec"] == str(evaluated.run)
    assert models["run"]["run_status"] == "finished"
    assert models[RANDOM0]["weights_sha256"] == weights_sha256(random_backbone(BACKBONE, 0))
    assert models[TWIN]["weights_sha256"] == weights_sha256(random_backbone(BACKBONE, RUN_SEED))
    assert models[TWIN]["spec"] == f"random:{BACKBONE}@{RUN_SEED}"
    assert models[RANDOM0]["weights_sha256"] != models[TWIN]["weights_sha256"]


def test_logistic_probe_beats_chance_on_the_planted_data(evaluated: Evaluated) -> None:
    """The bright square's corner is the label: some encoder's logistic probe finds it (on
    this data every encoder, random ones included, scores ~1.0 for several data seeds)."""
    summary = _read(evaluated.out, "summary.csv")
    full = summary[(summary["probe"] == "logistic") & (summary["fraction"] == 1.0)]
    best = full.loc[full["auroc"].idxmax()]
    assert best["auroc"] >= 0.8
    assert best["auroc_low"] > 0.5  # the interval excludes chance


def test_run_probe_says_what_it_extracted(evaluated: Evaluated) -> None:
    feature_lines = [m for m in evaluated.messages if "features" in m]
    assert len(feature_lines) == 3
    assert all(f"512-d of {N_TRAIN + N_VAL + N_TEST} images" in m for m in feature_lines)
    assert feature_lines[0].startswith(RANDOM0) and feature_lines[2].startswith(TWIN)


def test_without_random_baseline_only_the_given_encoders_are_probed(evaluated: Evaluated,
                                                                    tmp_path: Path) -> None:
    config = ProbeConfig(probes=("logistic",), bootstrap=100, random_baseline=False,
                         device="cpu")
    messages: list[str] = []
    result = run_probe(evaluated.data, [str(evaluated.run)], config, tmp_path / "eval",
                       say=messages.append)
    assert set(result.predictions["model"]) == {"run"}
    assert set(_read(tmp_path / "eval", "predictions.csv")["model"]) == {"run"}
    assert result.comparisons.empty
    assert _read(tmp_path / "eval", "comparisons.csv").empty
    assert list(_read(tmp_path / "eval", "comparisons.csv").columns) == list(COMPARISON_COLUMNS)
    record = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert set(record["models"]) == {"run"}
    # the module's first evaluation already extracted this encoder's features
    assert any(m.startswith("run: features") and "from the feature cache" in m
               for m in messages)


def test_a_second_run_probe_reads_the_feature_cache(evaluated: Evaluated, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDAUG_CACHE_DIR", str(tmp_path / "fresh-cache"))
    config = ProbeConfig(probes=("logistic",), bootstrap=100, device="cpu")
    spec = [f"random:{BACKBONE}@1"]
    first: list[str] = []
    a = run_probe(evaluated.data, spec, config, tmp_path / "a", say=first.append)
    second: list[str] = []
    b = run_probe(evaluated.data, spec, config, tmp_path / "b", say=second.append)
    assert any("(extracted)" in m for m in first)
    assert not any("feature cache" in m for m in first)
    assert any("(from the feature cache)" in m for m in second)
    assert list((tmp_path / "fresh-cache" / "features").glob("*.npy"))
    pd.testing.assert_frame_equal(a.predictions, b.predictions)


def test_explicit_twin_is_not_added_twice(evaluated: Evaluated) -> None:
    run = str(evaluated.run)
    names = [e.name for e in resolve_encoders([run, f"random:{BACKBONE}@{RUN_SEED}"], True)]
    assert names == ["run", TWIN]
    assert [e.name for e in resolve_encoders([run], True)] == ["run", TWIN]
    assert [e.name for e in resolve_encoders([run], False)] == ["run"]
    # random encoders have no twin
    assert [e.name for e in resolve_encoders([f"random:{BACKBONE}@0"], True)] == [RANDOM0]


def test_two_run_folders_with_one_name_are_refused(evaluated: Evaluated, tmp_path: Path
                                                   ) -> None:
    for parent in ("a", "b"):
        (tmp_path / parent).mkdir()
        (tmp_path / parent / "run").symlink_to(evaluated.run, target_is_directory=True)
    with pytest.raises(ConfigError, match="'run'"):
        resolve_encoders([str(tmp_path / "a" / "run"), str(tmp_path / "b" / "run")], True)


def test_no_encoder_and_an_unknown_spec_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least one"):
        resolve_encoders([], True)
    with pytest.raises(ConfigError, match="no such run folder"):
        resolve_encoders([str(tmp_path / "missing")], True)


def test_a_split_with_one_class_is_a_data_error(tmp_path: Path) -> None:
    npz = tiny_npz(tmp_path / "tiny.npz", n_train=16, n_val=8, n_test=8, size=SIZE)
    arrays = dict(np.load(npz))
    arrays["test_labels"] = np.zeros_like(arrays["test_labels"])
    np.savez(npz, **arrays)
    with pytest.raises(DataError, match="test split has one class"):
        run_probe(_data(npz), [f"random:{BACKBONE}@0"], ProbeConfig(bootstrap=100),
                  tmp_path / "eval", say=None)
    assert not (tmp_path / "eval" / "predictions.csv").exists()


@pytest.fixture
def empty_hub(tmp_path: Path) -> Iterator[Path]:
    """torch's hub folder pointed at an empty folder (no ImageNet weights), then restored."""
    old = torch.hub.get_dir()
    hub = tmp_path / "hub"
    hub.mkdir()
    torch.hub.set_dir(str(hub))
    try:
        yield hub
    finally:
        torch.hub.set_dir(old)


def test_missing_imagenet_weights_are_skipped_beside_other_encoders(
        evaluated: Evaluated, empty_hub: Path, tmp_path: Path) -> None:
    messages: list[str] = []
    result = run_probe(evaluated.data, ["imagenet:resnet18", f"random:{BACKBONE}@0"],
                       ProbeConfig(probes=("logistic",), bootstrap=100, device="cpu"),
                       tmp_path / "eval", say=messages.append)
    skipped = [m for m in messages if m.startswith("skipped imagenet:resnet18")]
    assert len(skipped) == 1 and str(empty_hub) in skipped[0]
    assert set(result.predictions["model"]) == {RANDOM0}


def test_missing_imagenet_weights_alone_are_a_config_error(evaluated: Evaluated,
                                                           empty_hub: Path, tmp_path: Path
                                                           ) -> None:
    messages: list[str] = []
    with pytest.raises(ConfigError, match="none of the encoders"):
        run_probe(evaluated.data, ["imagenet:resnet18"], ProbeConfig(bootstrap=100),
                  tmp_path / "eval", say=messages.append)
    assert any(m.startswith("skipped imagenet:resnet18") for m in messages)
    assert not (tmp_path / "eval").exists()


def test_a_twin_given_without_its_seed_is_still_compared(evaluated: Evaluated, tmp_path: Path
                                                         ) -> None:
    # a run folder whose recorded seed is 0 (its weights: the seed-0 starting point)
    run = tmp_path / "run0"
    export_encoder(random_backbone(BACKBONE, 0), run, BACKBONE, image_size=SIZE, clahe=False,
                   method="simclr")
    (run / "run.json").write_text(json.dumps({"status": "finished",
                                              "config": {"pretrain": {"seed": 0}}}))
    result = run_probe(evaluated.data, [str(run), f"random:{BACKBONE}"],
                       ProbeConfig(probes=("logistic",), bootstrap=100, device="cpu"),
                       tmp_path / "eval", say=None)
    assert set(result.predictions["model"]) == {"run0", RANDOM0}  # no second twin
    assert not result.comparisons.empty


def test_an_unfinished_run_is_probed_with_a_note(tmp_path: Path) -> None:
    from medaug.evaluate.linear_eval import resolve_encoders
    from medaug.models.backbones import create_backbone
    from medaug.store import export_encoder

    folder = tmp_path / "half"
    export_encoder(create_backbone("resnet18-small", seed=1), folder, "resnet18-small")
    (folder / "run.json").write_text(json.dumps({"status": "running",
                                                "config": {"pretrain": {"seed": 1}}}))
    lines: list[str] = []
    encoders = resolve_encoders([str(folder)], random_baseline=True, say=lines.append)
    assert any("status is 'running'" in line for line in lines)
    assert [e.name for e in encoders] == ["half", "random-init(resnet18-small@1)"]


# --- the saved probes and the record's provenance ------------------------------------------------


def test_run_probe_saves_each_logistic_probe_on_all_labels(evaluated: Evaluated) -> None:
    from medaug.evaluate.probe import LogisticProbe
    from medaug.store import PROBES_DIR, load_probe, probe_file_name

    record = json.loads((evaluated.out / "evaluation.json").read_text())
    preds = _read(evaluated.out, "predictions.csv")
    assert set(record["probes"]) == {RANDOM0, "run", TWIN}
    for name, entry in record["probes"].items():
        assert entry["file"] == f"{PROBES_DIR}/{probe_file_name(name)}"
        assert entry["weights_sha256"] == record["models"][name]["weights_sha256"]
        assert entry["data_fingerprint"] == evaluated.fingerprint
        arrays, meta = load_probe(evaluated.out / entry["file"])
        assert meta["weights_sha256"] == entry["weights_sha256"]
        assert meta["data_fingerprint"] == evaluated.fingerprint
        assert float(arrays["threshold"]) == pytest.approx(entry["threshold"])
        probe = LogisticProbe.from_arrays(arrays)
        # the saved probe is the one behind the 100% rows of predictions.csv
        val = preds[(preds["model"] == name) & (preds["probe"] == "logistic")
                    & (preds["fraction"] == 1.0) & (preds["split"] == "val")]
        cache = build_cache(load_dataset(evaluated.data.data.dataset), evaluated.data.preprocess,
                            progress=False)
        from medaug.evaluate.features import cached_features

        feats, reused = cached_features(torch.nn.Identity(), entry["weights_sha256"],
                                        cache.images, cache.fingerprint)
        assert reused
        np.testing.assert_allclose(probe.predict_proba(feats[val["row"].to_numpy()]),
                                   val["prob"].to_numpy(), atol=1e-9)


def test_evaluation_json_carries_the_provenance_block(evaluated: Evaluated) -> None:
    from medaug.store import provenance

    record = json.loads((evaluated.out / "evaluation.json").read_text())
    assert set(provenance()) <= set(record)
    assert record["pid"] > 0 and record["host"] and record["written"]


def test_probes_fitted_earlier_in_the_process_are_reused_exactly(evaluated: Evaluated,
                                                                 tmp_path: Path) -> None:
    from medaug.evaluate import linear_eval

    config = ProbeConfig(probes=("logistic",), bootstrap=100, device="cpu")
    spec = [f"random:{BACKBONE}@2"]
    linear_eval._MEMO.clear()
    first: list[str] = []
    a = run_probe(evaluated.data, spec, config, tmp_path / "a", say=first.append)
    second: list[str] = []
    b = run_probe(evaluated.data, spec, config, tmp_path / "b", say=second.append)
    assert not any("reused" in m for m in first)
    assert any("fitted on these features earlier in this process, reused" in m for m in second)
    linear_eval._MEMO.clear()
    c = run_probe(evaluated.data, spec, config, tmp_path / "c", say=None)  # fitted afresh
    pd.testing.assert_frame_equal(a.predictions, b.predictions)
    pd.testing.assert_frame_equal(a.predictions, c.predictions)
    assert (tmp_path / "b" / "probes").is_dir()  # the reused probe is still saved
