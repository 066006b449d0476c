"""``medaug explain --probe FOLDER``: the probe ``medaug probe`` saved is explained as it is.

Pinned here: the loaded probe gives the refit probe's probabilities (to 1e-6) on the same
features; explain with a probe folder never fits a probe and says which file it used; a probe
of other encoder weights or other data is one-line ``ConfigError``; a folder without saved
probes is refused before any data work; ``explain.json`` carries the provenance block.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpers import tiny_npz
from medaug.data.cache import CachedDataset, build_cache
from medaug.data.config import DataConfig, PrepareConfig
from medaug.data.datasets import load_dataset
from medaug.data.preprocess import PreprocessConfig
from medaug.errors import ConfigError
from medaug.evaluate.encoders import load_encoder_spec, random_backbone
from medaug.evaluate.features import cached_features
from medaug.evaluate.linear_eval import run_probe
from medaug.evaluate.probe_config import ProbeConfig
from medaug.explain import model as explain_model
from medaug.explain.model import explained_model
from medaug.explain.run import RECORD_FILE, ExplainConfig, run_explain
from medaug.explain.saved_probe import saved_probe
from medaug.store import export_encoder

SIZE = 16
BACKBONE = "resnet18-small"


@dataclass
class Probed:
    data: PrepareConfig
    cache: CachedDataset
    run: Path
    evaluation: Path
    base: Path


def _data(npz: Path) -> PrepareConfig:
    return PrepareConfig(DataConfig(f"medmnist:{npz}"), PreprocessConfig(size=SIZE, clahe=False))


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probed]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDAUG_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        base = tmp_path_factory.mktemp("saved_probe")
        data = _data(tiny_npz(base / "tiny.npz", n_train=16, n_val=8, n_test=8, size=SIZE))
        run = base / "simclr-run"
        export_encoder(random_backbone(BACKBONE, 1), run, BACKBONE, method="simclr",
                       image_size=SIZE, clahe=False)
        evaluation = base / "eval"
        run_probe(data, [str(run)], ProbeConfig(fractions=(1.0,), probes=("logistic",),
                                                bootstrap=100, random_baseline=False,
                                                device="cpu"), evaluation, say=None)
        cache = build_cache(load_dataset(data.data.dataset), data.preprocess, progress=False)
        yield Probed(data, cache, run, evaluation, base)


def _inputs(probed: Probed) -> tuple[Any, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    enc = load_encoder_spec(str(probed.run))
    feats, _ = cached_features(enc.module, enc.sha256, probed.cache.images,
                               probed.cache.fingerprint, device="cpu")
    labels = probed.cache.manifest.frame["label"].to_numpy().astype(int)
    return enc, feats, labels, probed.cache.labelled_splits("test")


def test_the_loaded_probe_gives_the_refit_probes_probabilities(probed: Probed) -> None:
    enc, feats, labels, rows = _inputs(probed)
    refit = explained_model(enc, feats, labels, rows)
    saved = saved_probe(probed.evaluation, enc, probed.cache.fingerprint)
    loaded = explained_model(enc, feats, labels, rows, saved=saved)
    np.testing.assert_allclose(loaded.probs, refit.probs, atol=1e-6)
    assert loaded.threshold == pytest.approx(refit.threshold, abs=1e-6)
    assert loaded.info["probe_C"] == refit.info["probe_C"]
    assert loaded.info["probe_file"] == str(saved.path)


def test_a_probe_of_other_weights_or_other_data_is_refused(probed: Probed) -> None:
    enc, *_ = _inputs(probed)
    other = load_encoder_spec(f"random:{BACKBONE}@5")
    with pytest.raises(ConfigError, match="no probe of") as info:
        saved_probe(probed.evaluation, other, probed.cache.fingerprint)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="fitted on other data") as info:
        saved_probe(probed.evaluation, enc, "0" * 64)
    assert "\n" not in str(info.value)


def test_explain_with_a_probe_folder_loads_it_and_never_fits(probed: Probed, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.setenv("MEDAUG_CACHE_DIR", str(probed.base.parent / "cache"))

    def no_fit(*_: Any, **__: Any) -> None:
        raise AssertionError("explain --probe fitted a probe")

    monkeypatch.setattr(explain_model, "fit_logistic_probe", no_fit)
    config = ExplainConfig(images=2, faithfulness_images=0, bootstrap=100, device="cpu",
                           probe=str(probed.evaluation))
    messages: list[str] = []
    run_explain(probed.data, [str(probed.run)], config, tmp_path / "out", say=messages.append)
    probe_file = probed.evaluation / "probes" / "simclr-run.npz"
    assert any(f"loaded from {probe_file}" in m for m in messages)
    record = json.loads((tmp_path / "out" / RECORD_FILE).read_text())
    assert record["models"]["simclr-run"]["probe_file"] == str(probe_file)
    assert record["config"]["explain"]["probe"] == str(probed.evaluation)
    assert {"medaug_version", "torch_version", "written", "host", "pid"} <= set(record)


def test_explain_without_a_probe_folder_fits_and_records_provenance(
        probed: Probed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDAUG_CACHE_DIR", str(probed.base.parent / "cache"))
    config = ExplainConfig(images=2, faithfulness_images=0, bootstrap=100, device="cpu")
    run_explain(probed.data, [str(probed.run)], config, tmp_path / "out", say=None)
    record = json.loads((tmp_path / "out" / RECORD_FILE).read_text())
    assert "probe_file" not in record["models"]["simclr-run"]
    assert {"medaug_version", "torch_version", "written", "host", "pid"} <= set(record)


def test_a_folder_without_saved_probes_is_refused_before_any_data_work(
        probed: Probed, tmp_path: Path) -> None:
    config = dataclasses.replace(ExplainConfig(device="cpu"), probe=str(tmp_path))
    with pytest.raises(ConfigError, match="no saved probes") as info:
        run_explain(probed.data, [str(probed.run)], config, tmp_path / "out", say=None)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()
