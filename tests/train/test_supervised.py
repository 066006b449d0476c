"""The supervised baseline: the classifier module, choosing the best epoch on val AUROC only,
the run folder and its test evaluation, reuse, label fractions at an equal step budget, and
bad settings (16 px images, ``resnet18-small``, a few optimiser steps per run)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import tiny_npz
from medaug.augment.pipeline import build_pipeline
from medaug.data.cache import build_cache
from medaug.data.config import DataConfig, PrepareConfig
from medaug.data.datasets import load_dataset
from medaug.data.preprocess import PreprocessConfig
from medaug.errors import ConfigError, DataError, TrainingError
from medaug.evaluate.scoring import PREDICTION_COLUMNS
from medaug.methods.optim import OptimConfig
from medaug.models.backbones import create_backbone
from medaug.store import load_encoder
from medaug.train.classifier import SupervisedClassifier, load_head
from medaug.train.supervised import SupervisedConfig, run_supervised_grid

SIZE = 16
BACKBONE = "resnet18-small"
N_TRAIN, N_VAL, N_TEST = 16, 8, 8
BATCH = 8


def _data(npz: Path) -> PrepareConfig:
    return PrepareConfig(DataConfig(f"medmnist:{npz}"), PreprocessConfig(size=SIZE, clahe=False))


def _config(**kwargs: object) -> SupervisedConfig:
    base: dict = {"backbone": BACKBONE, "ops": "flip", "epochs": 2, "batch_size": BATCH,
                  "bootstrap": 100, "accelerator": "cpu"}
    return SupervisedConfig(**{**base, **kwargs})


@dataclass
class Trained:
    """The module's data and one finished supervised run (every label, two epochs)."""

    data: PrepareConfig
    config: SupervisedConfig
    out: Path
    messages: list[str]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    # module fixtures run before the autouse cache fixture: point the cache at the same folder
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDAUG_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        base = tmp_path_factory.mktemp("supervised")
        npz = tiny_npz(base / "tiny.npz", n_train=N_TRAIN, n_val=N_VAL, n_test=N_TEST,
                       size=SIZE)
        data, config = _data(npz), _config()
        messages: list[str] = []
        run_supervised_grid(data, config, base / "sup", say=messages.append)
        yield Trained(data, config, base / "sup", messages)


# --- the module ----------------------------------------------------------------------------------


def _classifier(**kwargs: object) -> SupervisedClassifier:
    return SupervisedClassifier(create_backbone(BACKBONE, seed=0), build_pipeline("flip"),
                                OptimConfig("adamw", None, 1e-4), **kwargs)


def test_forward_gives_one_logit_per_image() -> None:
    model = _classifier().eval()
    with torch.no_grad():
        logits = model(torch.rand(5, 1, SIZE, SIZE))
    assert logits.shape == (5,)
    assert torch.isfinite(logits).all()


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_a_training_step_gives_a_finite_loss_and_gradients_reach_the_backbone() -> None:
    model = _classifier()
    images = torch.randint(0, 256, (4, SIZE, SIZE), dtype=torch.uint8)
    labels = torch.tensor([0.0, 1.0, 0.0, 1.0])
    loss = model.training_step((images, labels), 0)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    for name in ("conv1.weight", "layer4.1.conv2.weight"):
        grad = dict(model.backbone.named_parameters())[name].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name
    assert model.head.weight.grad is not None and model.head.weight.grad.abs().sum() > 0


def test_an_unknown_optimizer_is_refused_by_the_module() -> None:
    with pytest.raises(ConfigError, match="rmsprop"):
        SupervisedClassifier(create_backbone(BACKBONE), build_pipeline("flip"),
                             OptimConfig("rmsprop"))


def test_only_a_better_val_auroc_exports_and_sanity_checks_never_do(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation passes with made-up scores: AUROC 0.75, then 0.25 (worse: the epoch-0
    weights stay), then a perfect sanity check (ignored), then 1.0 (new best)."""
    model = _classifier(export_to=tmp_path / "run")
    monkeypatch.setattr(model, "log", lambda *args, **kwargs: None)
    labels = torch.tensor([0.0, 0.0, 1.0, 1.0])
    images = torch.zeros(4, SIZE, SIZE, dtype=torch.uint8)
    logits = {"0.75": [-1.0, 0.5, 0.0, 1.0], "0.25": [1.0, 0.0, 0.5, -1.0],
              "1.0": [-1.0, -0.5, 0.5, 1.0]}

    def validate(epoch: int, scores: str, sanity: bool = False) -> None:
        monkeypatch.setattr(model, "forward",
                            lambda x: torch.tensor(logits[scores][:len(x)]))
        model.trainer = SimpleNamespace(sanity_checking=sanity, current_epoch=epoch)
        model.validation_step((images, labels), 0)
        model.on_validation_epoch_end()

    def exported() -> dict:
        return json.loads((tmp_path / "run" / "encoder.json").read_text())

    validate(0, "0.75")
    assert int(model.best_epoch) == 0 and float(model.best_auroc) == pytest.approx(0.75)
    assert exported()["best_epoch"] == 0 and exported()["val_auroc"] == pytest.approx(0.75)
    assert (tmp_path / "run" / "head.pt").is_file()
    validate(1, "0.25")
    assert int(model.best_epoch) == 0 and exported()["best_epoch"] == 0
    validate(2, "1.0", sanity=True)
    assert int(model.best_epoch) == 0 and exported()["best_epoch"] == 0
    validate(3, "1.0")
    assert int(model.best_epoch) == 3 and float(model.best_auroc) == pytest.approx(1.0)
    assert exported()["best_epoch"] == 3 and exported()["val_auroc"] == pytest.approx(1.0)


def test_load_head_needs_head_pt(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match=r"head\.pt"):
        load_head(tmp_path)


# --- SupervisedConfig ------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"epochs": 0}, "epochs"),
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"class_weight": "x"}, "class_weight"),
    ({"batch_size": 1}, "batch_size"),
    ({"bootstrap": 10}, "bootstrap"),
    ({"lr": 0.0}, "lr"),
    ({"workers": -1}, "workers"),
])
def test_supervised_config_rejects_bad_values(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        SupervisedConfig(**kwargs)


def test_supervised_config_rejects_an_unknown_threshold_rule() -> None:
    with pytest.raises(ConfigError, match="threshold"):
        SupervisedConfig(threshold="bogus")


# --- one run -----------------------------------------------------------------------------------


def test_a_run_writes_encoder_head_record_and_evaluation(trained: Trained) -> None:
    out = trained.out
    for name in ("encoder.pt", "encoder.json", "head.pt", "run.json", "training.csv",
                 "predictions.csv", "metrics.csv", "summary.csv", "evaluation.json"):
        assert (out / name).is_file(), name
    info = json.loads((out / "encoder.json").read_text())
    assert info["method"] == "supervised" and info["backbone"] == BACKBONE
    assert info["image_size"] == SIZE and info["label_fraction"] == 1.0
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished" and run["reason"] is None
    assert run["train_images"] == N_TRAIN and run["epochs"] == 2
    assert run["config"]["supervised"]["backbone"] == BACKBONE
    assert run["config"]["fraction"] == 1.0 and run["config"]["subset_seed"] == 0
    preds = pd.read_csv(out / "predictions.csv", dtype={"patient_id": str, "study_id": str})
    assert list(preds.columns) == list(PREDICTION_COLUMNS)
    assert set(preds["probe"]) == {"end-to-end"} and set(preds["model"]) == {"supervised"}
    assert (preds["split"] == "val").sum() == N_VAL and (preds["split"] == "test").sum() == N_TEST
    assert preds["prob"].between(0, 1).all()
    metrics = pd.read_csv(out / "metrics.csv")
    auroc = metrics[(metrics["metric"] == "auroc") & (metrics["level"] == "image")]
    assert len(auroc) == 1 and auroc["probe"].iat[0] == "end-to-end"
    assert 0 <= auroc["value"].iat[0] <= 1 and auroc["n"].iat[0] == N_TEST
    summary = pd.read_csv(out / "summary.csv")
    assert summary[["model", "probe"]].values.tolist() == [["supervised", "end-to-end"]]
    record = json.loads((out / "evaluation.json").read_text())
    assert record["kind"] == "supervised"
    assert record["data"]["fingerprint"] == run["data"]["fingerprint"]
    assert record["config"]["supervised"]["epochs"] == 2
    assert any(m.startswith("best val AUROC") for m in trained.messages)


def test_the_best_epoch_is_the_one_with_the_highest_val_auroc(trained: Trained) -> None:
    """The test split never chooses: the exported weights are those of the best val AUROC."""
    run = json.loads((trained.out / "run.json").read_text())
    log = pd.read_csv(trained.out / "training.csv")
    assert {"epoch", "step", "loss", "val_auroc"} <= set(log.columns)
    assert log["epoch"].tolist() == [0, 1]
    validated = log.dropna(subset=["val_auroc"])
    best = validated.loc[validated["val_auroc"].idxmax()]  # the first of ties, as in training
    assert run["best_epoch"] == int(best["epoch"])
    assert run["val_auroc"] == pytest.approx(best["val_auroc"], abs=1e-6)
    info = json.loads((trained.out / "encoder.json").read_text())
    assert info["best_epoch"] == run["best_epoch"]
    assert info["val_auroc"] == pytest.approx(run["val_auroc"], abs=1e-6)


def test_the_saved_encoder_and_head_reproduce_the_predictions(trained: Trained) -> None:
    backbone, info = load_encoder(trained.out)
    assert info["method"] == "supervised"
    head = load_head(trained.out)
    cache = build_cache(load_dataset(trained.data.data.dataset), trained.data.preprocess,
                        progress=False)
    preds = pd.read_csv(trained.out / "predictions.csv")
    rows = preds["row"].to_numpy()
    x = torch.from_numpy(np.asarray(cache.images[rows])).float().div(255).unsqueeze(1)
    with torch.no_grad():
        probs = torch.sigmoid(head(backbone.eval()(x)).squeeze(1)).numpy()
    np.testing.assert_allclose(probs, preds["prob"].to_numpy(), atol=1e-5)
    labels = cache.manifest.frame["label"].to_numpy()[rows]
    np.testing.assert_array_equal(preds["label"].to_numpy(), labels)


def test_a_second_call_reuses_the_finished_run(trained: Trained) -> None:
    before = (trained.out / "encoder.pt").read_bytes()
    old = pd.read_csv(trained.out / "predictions.csv")
    messages: list[str] = []
    result = run_supervised_grid(trained.data, trained.config, trained.out, say=messages.append)
    assert any("reusing" in m and str(trained.out) in m for m in messages)
    assert not any(m.startswith("supervised ") for m in messages)  # nothing trained
    assert (trained.out / "encoder.pt").read_bytes() == before
    np.testing.assert_allclose(result.predictions["prob"].to_numpy(), old["prob"].to_numpy())


def test_other_settings_in_the_same_folder_are_a_training_error(trained: Trained) -> None:
    with pytest.raises(TrainingError, match="other settings"):
        run_supervised_grid(trained.data, replace(trained.config, epochs=3), trained.out,
                            say=None)
    assert json.loads((trained.out / "run.json").read_text())["config"]["supervised"][
        "epochs"] == 2


def test_a_split_with_one_class_is_a_data_error(tmp_path: Path) -> None:
    npz = tiny_npz(tmp_path / "tiny.npz", n_train=16, n_val=8, n_test=8, size=SIZE)
    arrays = dict(np.load(npz))
    arrays["val_labels"] = np.ones_like(arrays["val_labels"])
    np.savez(npz, **arrays)
    with pytest.raises(DataError, match="val split"):
        run_supervised_grid(_data(npz), _config(), tmp_path / "sup", say=None)
    assert not (tmp_path / "sup" / "run.json").exists()


# --- label fractions -------------------------------------------------------------------------


def test_label_fractions_train_one_run_each_for_the_same_number_of_steps(
        trained: Trained, tmp_path: Path) -> None:
    out = tmp_path / "grid"
    messages: list[str] = []
    result = run_supervised_grid(trained.data, _config(epochs=1), out, fractions=(0.5, 1.0),
                                 seeds=2, say=messages.append)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["f0.5-s0", "f0.5-s1",
                                                                    "f1-s0"]
    steps = {}
    for name, fraction, subset, images in (("f0.5-s0", 0.5, 0, N_TRAIN // 2),
                                           ("f0.5-s1", 0.5, 1, N_TRAIN // 2),
                                           ("f1-s0", 1.0, 0, N_TRAIN)):
        run = json.loads((out / name / "run.json").read_text())
        assert run["status"] == "finished"
        assert run["config"]["fraction"] == fraction and run["config"]["subset_seed"] == subset
        assert run["train_images"] == images
        assert (out / name / "encoder.pt").is_file() and (out / name / "head.pt").is_file()
        log = pd.read_csv(out / name / "training.csv")
        assert len(log) == run["epochs"]
        steps[name] = (run["epochs"] * (images // min(BATCH, images)), int(log["step"].max()))
    # every label: 1 epoch of 2 steps; half of them: 2 epochs of 1 step
    assert steps["f1-s0"][0] == N_TRAIN // BATCH
    assert len({s for s, _ in steps.values()}) == 1
    assert len({s for _, s in steps.values()}) == 1
    assert json.loads((out / "f0.5-s0" / "run.json").read_text())["epochs"] == 2
    keys = set(result.predictions[["fraction", "seed"]].itertuples(index=False, name=None))
    assert keys == {(0.5, 0), (0.5, 1), (1.0, 0)}
    saved = pd.read_csv(out / "predictions.csv")
    assert len(saved) == 3 * (N_VAL + N_TEST)
    summary = pd.read_csv(out / "summary.csv")
    assert dict(zip(summary["fraction"], summary["seeds"], strict=True)) == {0.5: 2, 1.0: 1}
    assert not (out / "run.json").exists()  # the grid's folder holds the evaluation only
    assert json.loads((out / "evaluation.json").read_text())["fractions"] == [0.5, 1.0]
