"""The model under the heat maps: an encoder with its probe folded into an ``nn.Linear`` gives
the scikit-learn probe's probabilities exactly; a supervised run's own head is used where
there is one; the layer where maps are taken is named or refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from torch import nn

from medaug.errors import ConfigError
from medaug.evaluate.encoders import load_encoder_spec
from medaug.evaluate.features import extract_features
from medaug.evaluate.metrics import youden_threshold
from medaug.evaluate.probe import fit_logistic_probe
from medaug.explain.model import ProbedEncoder, explained_model
from medaug.models.backbones import create_backbone
from medaug.store import export_encoder, save_state_dict
from medaug.train.classifier import HEAD_FILE

SIZE = 16
BACKBONE = "resnet18-small"


def _images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images ``(n, 16, 16)`` whose brightness carries the label, and labels ``(n,)``."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.integers(0, 120, size=(n, SIZE, SIZE))
    images[labels == 1, 4:12, 4:12] += 120
    return images.astype(np.uint8), labels


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    images, labels = _images(60, 0)
    rows = {"train": np.arange(0, 36), "val": np.arange(36, 48), "test": np.arange(48, 60)}
    backbone = create_backbone(BACKBONE, seed=0).eval()
    feats = extract_features(backbone, images, np.arange(len(images)), batch_size=64,
                             device="cpu").numpy()
    return {"images": images, "labels": labels, "feats": feats, **rows}


def test_the_folded_probe_gives_scikit_learns_probabilities(data: dict[str, np.ndarray]
                                                            ) -> None:
    train, val, test = data["train"], data["val"], data["test"]
    feats, labels = data["feats"], data["labels"]
    probe = fit_logistic_probe(feats[train], labels[train], feats[val], labels[val])
    # scikit-learn on its own, with the C the probe chose
    scaler = StandardScaler().fit(feats[train].astype(np.float64))
    reference = LogisticRegression(C=probe.C, max_iter=2000, random_state=0).fit(
        scaler.transform(feats[train].astype(np.float64)), labels[train])
    expected = reference.predict_proba(scaler.transform(feats[test].astype(np.float64)))[:, 1]
    # the whole model, images in: encoder then the folded nn.Linear
    model = ProbedEncoder(create_backbone(BACKBONE, seed=0), probe.as_linear()).eval()
    got = model.predict_proba(data["images"][test], batch_size=5)
    assert got.shape == expected.shape == (len(test),)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.ptp(expected) > 0.05  # probabilities that differ, not a constant


def _run_folder(tmp_path: Path, name: str, head: nn.Linear | None) -> Path:
    folder = tmp_path / name
    export_encoder(create_backbone(BACKBONE, seed=0), folder, BACKBONE, image_size=SIZE)
    if head is not None:
        save_state_dict(head, folder / HEAD_FILE)
    return folder


def test_a_run_without_a_head_gets_a_probe(data: dict[str, np.ndarray], tmp_path: Path
                                           ) -> None:
    enc = load_encoder_spec(str(_run_folder(tmp_path, "ssl", None)))
    rows = {k: data[k] for k in ("train", "val", "test")}
    ex = explained_model(enc, data["feats"], data["labels"], rows)
    assert ex.head == "logistic probe" and ex.info["head"] == "logistic probe"
    assert "probe_C" in ex.info and 0 <= ex.info["probe_val_auroc"] <= 1
    # the probabilities it keeps are the model's on the images
    np.testing.assert_allclose(ex.probs[rows["test"]],
                               ex.model.predict_proba(data["images"][rows["test"]]), atol=1e-5)
    # and the threshold is Youden's on validation
    assert ex.threshold == pytest.approx(youden_threshold(data["labels"][rows["val"]],
                                                          ex.probs[rows["val"]]))


def test_a_supervised_run_keeps_its_own_head(data: dict[str, np.ndarray], tmp_path: Path
                                             ) -> None:
    torch.manual_seed(5)
    head = nn.Linear(512, 1)
    enc = load_encoder_spec(str(_run_folder(tmp_path, "sup", head)))
    rows = {k: data[k] for k in ("train", "val", "test")}
    ex = explained_model(enc, data["feats"], data["labels"], rows, threshold="0.5")
    assert ex.head == "supervised head" and "probe_C" not in ex.info
    assert torch.equal(ex.model.head.weight, head.weight)
    assert ex.threshold == 0.5
    with torch.no_grad():
        expected = torch.sigmoid(head(torch.as_tensor(data["feats"]))[:, 0]).numpy()
    np.testing.assert_allclose(ex.probs, expected, atol=1e-6)


def test_layers_are_named_or_refused() -> None:
    backbone = create_backbone(BACKBONE, seed=0)
    model = ProbedEncoder(backbone, nn.Linear(512, 1))
    assert model.layer() is backbone.layer4[-1]
    assert model.layer("layer3") is backbone.layer3
    assert model.layer("layer4.0") is backbone.layer4[0]
    with pytest.raises(ConfigError, match=r"layer9.*layer1"):
        model.layer("layer9")


def test_the_output_is_one_abnormal_logit() -> None:
    model = ProbedEncoder(create_backbone(BACKBONE, seed=0), nn.Linear(512, 1)).eval()
    assert model(torch.rand(3, 1, SIZE, SIZE)).shape == (3, 1)
    assert model.predict_proba(np.zeros((0, SIZE, SIZE), np.uint8)).shape == (0,)
