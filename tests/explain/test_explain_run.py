"""``run_explain`` end to end on tiny planted data (16 px images, ``resnet18-small``).

Pinned here: every file of the explanation folder and what it holds (heat maps ``(M, R, S, S)``
in [0, 1], the same test rows for every model, the head each model was explained through,
ROAD per model and per pair); no hook left on any module afterwards, also when a heat map
fails; the same config gives the same images and maps; images named by path are shown in the
order given, and a path not in the data is a ``ConfigError`` that writes nothing; no
faithfulness tables when ``faithfulness_images=0``; the ``predicted`` target; the column
titles of :func:`display_name`; and :class:`ExplainConfig`'s validation.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from helpers import tiny_npz
from medaug.data.cache import CachedDataset, build_cache
from medaug.data.config import DataConfig, PrepareConfig
from medaug.data.datasets import load_dataset
from medaug.data.preprocess import PreprocessConfig
from medaug.errors import ConfigError
from medaug.evaluate.encoders import load_encoder_spec, random_backbone
from medaug.explain import run as explain_run
from medaug.explain.model import Explained
from medaug.explain.run import (
    FAITHFULNESS_FILE,
    FAITHFULNESS_IMAGES_FILE,
    HEATMAPS_FILE,
    IMAGES_FILE,
    PAIRS_FILE,
    PANEL_FILE,
    PER_IMAGE_COLUMNS,
    RECORD_FILE,
    SUMMARY_COLUMNS,
    ExplainConfig,
    display_name,
    model_maps,
    run_explain,
)
from medaug.models.backbones import feature_dim
from medaug.store import export_encoder, save_state_dict
from medaug.train.classifier import HEAD_FILE, load_head

SIZE = 16
N_TRAIN, N_VAL, N_TEST = 16, 8, 8  # every image its own patient
BACKBONE = "resnet18-small"
PRETRAIN_NAME = "simclr-run"
SUPERVISED_NAME = "sup-grid/f1-s0"  # a leaf of a `medaug supervised` grid: parent/leaf
NAMES = [PRETRAIN_NAME, SUPERVISED_NAME]
IMAGES = 4
FAITHFULNESS_IMAGES = 6
PERCENTILES = (30, 70)
FILES = (PANEL_FILE, IMAGES_FILE, HEATMAPS_FILE, FAITHFULNESS_FILE, FAITHFULNESS_IMAGES_FILE,
         PAIRS_FILE, RECORD_FILE, explain_run.MEAN_MAPS_FILE, explain_run.MEAN_HEAT_FILE)


@dataclass
class Explanation:
    """The module's data, two run folders and one explanation of both."""

    npz: Path
    data: PrepareConfig
    cache: CachedDataset
    specs: list[str]
    supervised: Path
    config: ExplainConfig
    out: Path
    result: explain_run.ExplainResult
    models: list[Explained]
    messages: list[str]
    base: Path


def _data(npz: Path) -> PrepareConfig:
    return PrepareConfig(DataConfig(f"medmnist:{npz}"), PreprocessConfig(size=SIZE, clahe=False))


def _run_folders(base: Path) -> tuple[Path, Path]:
    """A pretraining-like run folder (a probe is fitted on top) and a supervised-like one (its
    encoder with ``head.pt`` beside it)."""
    pretrain = base / PRETRAIN_NAME
    export_encoder(random_backbone(BACKBONE, 1), pretrain, BACKBONE, method="simclr",
                   image_size=SIZE, clahe=False)
    (pretrain / "run.json").write_text(json.dumps({"status": "finished",
                                                   "config": {"pretrain": {"seed": 1}}}))
    supervised = base / SUPERVISED_NAME
    backbone = random_backbone(BACKBONE, 2)
    export_encoder(backbone, supervised, BACKBONE, method="supervised", image_size=SIZE,
                   clahe=False)
    torch.manual_seed(0)
    save_state_dict(nn.Linear(feature_dim(backbone), 1), supervised / HEAD_FILE)
    return pretrain, supervised


@pytest.fixture(scope="module")
def explained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Explanation]:
    # module fixtures run before the autouse cache fixture: point the cache at the same folder
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDAUG_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        base = tmp_path_factory.mktemp("explain_run")
        npz = tiny_npz(base / "tiny.npz", n_train=N_TRAIN, n_val=N_VAL, n_test=N_TEST,
                       size=SIZE)
        data = _data(npz)
        pretrain, supervised = _run_folders(base)
        specs = [str(pretrain), str(supervised)]
        # keep the models run_explain explains, to look for hooks left on them afterwards
        models: list[Explained] = []
        real = explain_run.explained_model

        def keep(*args: Any, **kwargs: Any) -> Explained:
            models.append(real(*args, **kwargs))
            return models[-1]

        config = ExplainConfig(images=IMAGES, faithfulness_images=FAITHFULNESS_IMAGES,
                               percentiles=PERCENTILES, bootstrap=100, device="cpu")
        messages: list[str] = []
        with pytest.MonkeyPatch.context() as spy:
            spy.setattr(explain_run, "explained_model", keep)
            result = run_explain(data, specs, config, base / "out", say=messages.append)
        cache = build_cache(load_dataset(data.data.dataset), data.preprocess, progress=False)
        yield Explanation(npz, data, cache, specs, supervised, config, base / "out", result,
                          models, messages, base)


@pytest.fixture(scope="module")
def without_faithfulness(explained: Explanation) -> explain_run.ExplainResult:
    """The same panel again, without ROAD (the seed and image count are the same)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDAUG_CACHE_DIR", str(explained.base.parent / "cache"))
        config = dataclasses.replace(explained.config, faithfulness_images=0)
        return run_explain(explained.data, explained.specs, config,
                           explained.base / "no_road", say=None)


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"patient_id": str})


def _heat(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / HEATMAPS_FILE) as saved:
        return {key: saved[key] for key in saved.files}


# --- the explanation folder --------------------------------------------------------------------


def test_every_file_is_written(explained: Explanation) -> None:
    for name in FILES:
        assert (explained.out / name).is_file(), name
        assert (explained.out / name).stat().st_size > 0, name
    assert explained.result.panel == explained.out / PANEL_FILE
    assert (explained.out / PANEL_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # nothing half-written is left behind
    assert not [p.name for p in explained.out.iterdir() if ".tmp-" in p.name]


def test_heat_maps_have_one_map_per_model_and_image_in_0_1(explained: Explanation) -> None:
    saved = _heat(explained.out)
    heat = saved["heat"].astype(np.float32)
    assert heat.shape == (2, IMAGES, SIZE, SIZE)
    assert explained.result.heat.shape == (2, IMAGES, SIZE, SIZE)
    assert np.isfinite(heat).all()
    assert heat.min() >= 0 and heat.max() <= 1
    np.testing.assert_allclose(heat, explained.result.heat, atol=1e-3)  # stored as float16
    assert list(saved["models"]) == NAMES
    np.testing.assert_array_equal(saved["images"], explained.cache.images[saved["rows"]])
    assert saved["images"].dtype == np.uint8 and saved["images"].shape == (IMAGES, SIZE, SIZE)


def test_both_models_are_explained_on_the_same_test_rows(explained: Explanation) -> None:
    table = _read(explained.out / IMAGES_FILE)
    assert list(dict.fromkeys(table["model"])) == NAMES
    per_model = {name: part.sort_values("panel_row")["row"].tolist()
                 for name, part in table.groupby("model")}
    assert per_model[PRETRAIN_NAME] == per_model[SUPERVISED_NAME]
    rows = per_model[PRETRAIN_NAME]
    assert len(rows) == len(set(rows)) == IMAGES
    assert rows == _heat(explained.out)["rows"].tolist()
    test_rows = set(explained.cache.split_indices("test").tolist())
    assert set(rows) <= test_rows
    assert set(table["split"]) == {"test"}
    frame = explained.cache.manifest.frame
    np.testing.assert_array_equal(table["label"], frame["label"].to_numpy()[table["row"]])
    np.testing.assert_array_equal(table["index"], frame["index"].to_numpy()[table["row"]])
    assert table["prob"].between(0, 1).all()
    called = table["prob"] >= table["threshold"]
    expected = np.where(table["label"] == 1, np.where(called, "TP", "FN"),
                        np.where(called, "FP", "TN"))
    assert table["call"].tolist() == expected.tolist()
    heat = explained.result.heat
    np.testing.assert_allclose(table["heat_max"], heat.reshape(len(table), -1).max(axis=1),
                               rtol=1e-6)


def test_the_supervised_head_is_used_as_saved(explained: Explanation) -> None:
    """Its probabilities are the saved encoder and head applied to the cached images."""
    table = _read(explained.out / IMAGES_FILE)
    part = table[table["model"] == SUPERVISED_NAME]
    encoder = load_encoder_spec(str(explained.supervised)).module.eval()
    head = load_head(explained.supervised)
    x = torch.from_numpy(explained.cache.images[part["row"].to_numpy()]).float() / 255
    with torch.no_grad():
        probs = torch.sigmoid(head(encoder(x.unsqueeze(1)))[:, 0]).numpy()
    np.testing.assert_allclose(part["prob"], probs, atol=1e-5)


def test_the_record_names_each_models_head(explained: Explanation) -> None:
    record = json.loads((explained.out / RECORD_FILE).read_text())
    assert record["kind"] == "explain"
    assert list(record["models"]) == NAMES
    probe = record["models"][PRETRAIN_NAME]
    own = record["models"][SUPERVISED_NAME]
    assert probe["head"] == "logistic probe" and own["head"] == "supervised head"
    assert isinstance(probe["probe_C"], float) and probe["probe_C"] > 0
    assert 0 <= probe["probe_val_auroc"] <= 1
    assert "probe_C" not in own
    assert probe["encoder"]["folder"] == str(Path(explained.specs[0]).resolve())
    table = _read(explained.out / IMAGES_FILE)
    for name in NAMES:
        threshold = table.loc[table["model"] == name, "threshold"]
        assert threshold.to_numpy() == pytest.approx(record["models"][name]["threshold"])
    assert record["config"]["data"]["dataset"] == f"medmnist:{explained.npz}"
    assert record["config"]["preprocess"]["size"] == SIZE
    settings = record["config"]["explain"]
    assert settings["faithfulness_images"] == FAITHFULNESS_IMAGES
    assert settings["percentiles"] == list(PERCENTILES) and settings["images"] == IMAGES
    assert record["data"]["images"] == {"train": N_TRAIN, "val": N_VAL, "test": N_TEST}
    assert [m.head for m in explained.models] == ["logistic probe", "supervised head"]
    assert any("logistic probe" in m for m in explained.messages)
    assert any("supervised head" in m for m in explained.messages)
    assert not any("was trained at" in m for m in explained.messages)  # trained at 16 px
    # at 16 px resnet18-small's last block is 2x2: the run says so
    assert any(m.startswith("note:") and "2x2" in m for m in explained.messages)


def test_faithfulness_tables(explained: Explanation) -> None:
    summary = pd.read_csv(explained.out / FAITHFULNESS_FILE)
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert summary["model"].tolist() == NAMES
    assert (summary["images"] == FAITHFULNESS_IMAGES).all()
    assert (summary["patients"] == FAITHFULNESS_IMAGES).all()
    assert (summary["road_combined_low"] <= summary["road_combined"] + 1e-12).all()
    assert (summary["road_combined"] <= summary["road_combined_high"] + 1e-12).all()
    assert summary["vs_random_p"].between(0, 1).all()
    per_image = _read(explained.out / FAITHFULNESS_IMAGES_FILE)
    assert list(per_image.columns) == list(PER_IMAGE_COLUMNS)
    assert len(per_image) == 2 * FAITHFULNESS_IMAGES
    rows = {name: sorted(part["row"]) for name, part in per_image.groupby("model")}
    assert rows[PRETRAIN_NAME] == rows[SUPERVISED_NAME]  # the same images for every model
    assert set(rows[PRETRAIN_NAME]) <= set(explained.cache.split_indices("test").tolist())
    np.testing.assert_allclose(per_image["road_combined"],
                               (per_image["road_lerf"] - per_image["road_morf"]) / 2)
    for name, part in per_image.groupby("model"):
        row = summary[summary["model"] == name].iloc[0]
        assert row["road_combined"] == pytest.approx(part["road_combined"].mean())
        assert row["empty_maps"] == int((part["heat_max"] <= 0).sum())
        full = part["heat_max"] > 0
        assert part.loc[full, ["heat_row", "heat_col"]].notna().all().all()
        assert part.loc[~full, ["heat_row", "heat_col"]].isna().all().all()
        assert part.loc[full, ["heat_row", "heat_col"]].stack().between(0, 1).all()
        if full.any():
            assert row["heat_row"] == pytest.approx(part.loc[full, "heat_row"].mean())
    pairs = pd.read_csv(explained.out / PAIRS_FILE)
    assert len(pairs) == 1
    pair = pairs.iloc[0]
    assert (pair["model_a"], pair["model_b"]) == (PRETRAIN_NAME, SUPERVISED_NAME)
    assert pair["difference"] == pytest.approx(pair["a"] - pair["b"])
    assert pair["a"] == pytest.approx(summary["road_combined"].iloc[0])
    assert pair["b"] == pytest.approx(summary["road_combined"].iloc[1])


# --- hooks -------------------------------------------------------------------------------------


def _hooks(model: nn.Module) -> list[str]:
    left = []
    for name, module in model.named_modules():
        for kind in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
                     "_backward_pre_hooks"):
            if getattr(module, kind, None):
                left.append(f"{name or '<model>'}.{kind}")
    return left


def test_no_hook_is_left_on_any_module(explained: Explanation) -> None:
    assert [m.name for m in explained.models] == NAMES
    for m in explained.models:
        assert _hooks(m.model) == [], m.name
        assert all(p.device.type == "cpu" for p in m.model.parameters())


def test_no_hook_is_left_when_a_heat_map_fails(explained: Explanation) -> None:
    model = explained.models[1]
    flat = explained.cache.images.reshape(len(explained.cache.images), -1)  # not (N, S, S)
    with pytest.raises(ValueError, match="1-channel"):
        model_maps(model, flat, np.array([0, 1]), explained.config, torch.device("cpu"))
    assert _hooks(model.model) == []
    # and the model still makes heat maps afterwards
    heat = model_maps(model, explained.cache.images, np.array([0, 1]), explained.config,
                      torch.device("cpu"))
    assert heat.shape == (2, SIZE, SIZE)
    assert _hooks(model.model) == []


# --- reproducibility ---------------------------------------------------------------------------


def test_the_same_config_gives_the_same_images_maps_and_scores(explained: Explanation,
                                                               tmp_path: Path) -> None:
    """The image choice, ROAD's image draw, random maps and imputation noise all come from the
    seed: a second run writes the same tables and maps."""
    again = run_explain(explained.data, explained.specs, explained.config, tmp_path / "again",
                        say=None)
    pd.testing.assert_frame_equal(_read(tmp_path / "again" / IMAGES_FILE),
                                  _read(explained.out / IMAGES_FILE))
    np.testing.assert_array_equal(again.heat, explained.result.heat)
    first, second = _heat(explained.out), _heat(tmp_path / "again")
    for key in ("heat", "rows", "images", "models"):
        np.testing.assert_array_equal(second[key], first[key])
    for name in (FAITHFULNESS_FILE, FAITHFULNESS_IMAGES_FILE, PAIRS_FILE):
        pd.testing.assert_frame_equal(_read(tmp_path / "again" / name),
                                      _read(explained.out / name))
    assert all(_hooks(m.model) == [] for m in explained.models)


def test_the_mean_maps_average_the_non_empty_maps_of_the_scored_images(
        explained: Explanation) -> None:
    with np.load(explained.out / explain_run.MEAN_HEAT_FILE) as saved:
        mean_heat, rows, models = saved["mean_heat"], saved["rows"], saved["models"]
    assert models.tolist() == NAMES
    assert mean_heat.shape == (len(NAMES), SIZE, SIZE)
    assert mean_heat.min() >= 0 and mean_heat.max() <= 1
    per_image = _read(explained.out / FAITHFULNESS_IMAGES_FILE)
    assert sorted(rows.tolist()) == sorted(per_image[per_image["model"] == NAMES[0]]["row"])
    # recompute one model's maps on those rows: the mean of its non-empty ones
    model = next(m for m in explained.models if m.name == NAMES[0])
    heat = explain_run.model_maps(model, explained.cache.images, rows, explained.config,
                                  torch.device("cpu"))
    full = heat.reshape(len(heat), -1).max(axis=1) > 0
    expected = heat[full].mean(axis=0) if full.any() else np.zeros((SIZE, SIZE))
    np.testing.assert_allclose(mean_heat[0], expected, atol=1e-5)


def test_no_faithfulness_images_gives_empty_tables_and_still_a_panel(
        explained: Explanation, without_faithfulness: explain_run.ExplainResult) -> None:
    folder = without_faithfulness.folder
    assert (folder / PANEL_FILE).is_file() and (folder / HEATMAPS_FILE).is_file()
    assert not (folder / explain_run.MEAN_MAPS_FILE).exists()  # nothing was scored
    assert without_faithfulness.faithfulness.empty and without_faithfulness.pairs.empty
    assert without_faithfulness.per_image.empty
    for name, columns in ((FAITHFULNESS_FILE, SUMMARY_COLUMNS),
                          (FAITHFULNESS_IMAGES_FILE, PER_IMAGE_COLUMNS),
                          (PAIRS_FILE, explain_run.PAIR_COLUMNS)):
        table = pd.read_csv(folder / name)
        assert table.empty and list(table.columns) == list(columns), name
    # ROAD does not change which images the panel shows, nor their maps
    pd.testing.assert_frame_equal(without_faithfulness.images, explained.result.images)
    np.testing.assert_array_equal(without_faithfulness.heat, explained.result.heat)


# --- images named by path ----------------------------------------------------------------------


def test_paths_show_exactly_those_images_in_that_order(explained: Explanation,
                                                       tmp_path: Path
                                                       ) -> None:
    frame = explained.cache.manifest.frame
    test = explained.cache.split_indices("test")
    wanted = [int(test[-1]), int(test[0]), int(test[3])]  # not in manifest order
    paths = tuple(f"{explained.npz}#{frame['index'].iat[row]}" for row in wanted)
    config = ExplainConfig(images=1, paths=paths, faithfulness_images=0, bootstrap=100,
                           device="cpu")
    result = run_explain(explained.data, explained.specs, config, tmp_path / "named",
                         say=None)
    table = _read(tmp_path / "named" / IMAGES_FILE)
    for name in NAMES:
        part = table[table["model"] == name].sort_values("panel_row")
        assert part["row"].tolist() == wanted
        assert part["panel_row"].tolist() == [0, 1, 2]
    saved = _heat(tmp_path / "named")
    assert saved["rows"].tolist() == wanted
    assert result.heat.shape == (2, len(wanted), SIZE, SIZE)
    np.testing.assert_array_equal(saved["images"], explained.cache.images[wanted])
    assert json.loads((tmp_path / "named" / RECORD_FILE).read_text())["config"]["explain"][
        "paths"] == list(paths)


def test_a_path_not_in_the_data_is_a_config_error_that_writes_nothing(
        explained: Explanation, tmp_path: Path) -> None:
    missing = f"{explained.npz}#{10 * (N_TRAIN + N_VAL + N_TEST)}"
    config = ExplainConfig(paths=(missing,), faithfulness_images=0, bootstrap=100,
                           device="cpu")
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as info:
        run_explain(explained.data, explained.specs, config, out, say=None)
    assert missing in str(info.value)
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(ConfigError, match=r"nowhere/KL4/x\.png"):
        run_explain(explained.data, explained.specs,
                    dataclasses.replace(config, paths=("nowhere/KL4/x.png",)), out, say=None)
    assert not out.exists() or not any(out.iterdir())


def test_two_models_with_one_name_are_a_config_error(explained: Explanation,
                                                     tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=f"both called '{PRETRAIN_NAME}'"):
        run_explain(explained.data, [explained.specs[0], explained.specs[0]],
                    explained.config, out, say=None)
    assert not out.exists()
    with pytest.raises(ConfigError, match="at least one run"):
        run_explain(explained.data, [], explained.config, out, say=None)
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_a_config_error_that_writes_nothing(explained: Explanation,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = dataclasses.replace(explained.config, device="cuda", faithfulness_images=0)
    with pytest.raises(ConfigError, match="cuda"):
        run_explain(explained.data, explained.specs, config, out, say=None)
    assert not out.exists() or not any(out.iterdir())


# --- target ------------------------------------------------------------------------------------


def test_the_predicted_target_explains_each_models_own_call(explained: Explanation,
                                                           tmp_path: Path
                                                           ) -> None:
    """Where a model calls abnormal its map is the abnormal one; where it calls normal, the
    map of the negated logit (different, unless both maps are empty)."""
    config = dataclasses.replace(explained.config, target="predicted", faithfulness_images=0)
    result = run_explain(explained.data, explained.specs, config, tmp_path / "pred",
                         say=None)
    assert result.heat.shape == (2, IMAGES, SIZE, SIZE)
    assert result.heat.min() >= 0 and result.heat.max() <= 1
    assert _heat(tmp_path / "pred")["heat"].shape == (2, IMAGES, SIZE, SIZE)
    # the same images as the abnormal target's panel (the choice does not depend on it)
    pd.testing.assert_series_equal(result.images["row"], explained.result.images["row"])
    calls = result.images["call"].to_numpy().reshape(2, IMAGES)
    assert {"TP", "FP"} & set(calls.ravel()) and {"TN", "FN"} & set(calls.ravel())
    normal = [(m, r) for m in range(2) for r in range(IMAGES) if calls[m, r] in ("TN", "FN")]
    assert any(not np.allclose(result.heat[m, r], explained.result.heat[m, r], atol=1e-3)
               for m, r in normal)  # at least one normal call's map is its own
    for m in range(2):
        for r in range(IMAGES):
            mine, abnormal = result.heat[m, r], explained.result.heat[m, r]
            if calls[m, r] in ("TP", "FP"):
                np.testing.assert_allclose(mine, abnormal, atol=1e-5)
            else:
                assert (not np.allclose(mine, abnormal, atol=1e-3)
                        or (mine.max() == 0 and abnormal.max() == 0)), (m, r)


# --- layer ------------------------------------------------------------------------------------


@dataclass
class Layer3:
    """The module's models explained at ``layer3`` (4x4 at 16 px) instead of the last block."""

    result: explain_run.ExplainResult
    record: dict[str, Any]
    messages: list[str]


@pytest.fixture(scope="module")
def at_layer3(explained: Explanation) -> Layer3:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDAUG_CACHE_DIR", str(explained.base.parent / "cache"))
        config = dataclasses.replace(explained.config, layer="layer3", images=2,
                                     faithfulness_images=0)
        messages: list[str] = []
        result = run_explain(explained.data, explained.specs, config,
                             explained.base / "layer3", say=messages.append)
    record = json.loads((result.folder / RECORD_FILE).read_text())
    return Layer3(result, record, messages)


def test_an_earlier_layer_gives_full_size_maps(at_layer3: Layer3) -> None:
    heat = at_layer3.result.heat
    assert heat.shape == (2, 2, SIZE, SIZE)
    assert heat.min() >= 0 and heat.max() <= 1
    assert not any("2x2" in m for m in at_layer3.messages)  # layer3 is 4x4 at 16 px
    assert at_layer3.record["config"]["explain"]["layer"] == "layer3"


def test_the_records_notes_name_the_layer_the_maps_were_taken_at(at_layer3: Layer3) -> None:
    notes = " ".join(at_layer3.record["notes"])
    assert "last convolutional block" not in notes and "layer3" in notes


def test_a_layer_that_is_not_a_module_is_a_config_error_that_writes_nothing(
        explained: Explanation, tmp_path: Path) -> None:
    config = dataclasses.replace(explained.config, layer="layer9", faithfulness_images=0)
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="layer9"):
        run_explain(explained.data, explained.specs, config, out, say=None)
    assert not out.exists() or not any(out.iterdir())
    assert all(_hooks(m.model) == [] for m in explained.models)


# --- column titles -----------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "name"), [
    ("runs/x/f1-s0", "x/f1-s0"),
    ("runs/knee64-supervised/f0.01-s2", "knee64-supervised/f0.01-s2"),
    ("runs/simclr", None),
    ("runs/f1-s0-extra", None),
    ("random:resnet18@0", None),
    ("imagenet:resnet18", None),
])
def test_display_name(spec: str, name: str | None) -> None:
    assert display_name(spec) == name


# --- ExplainConfig -----------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"method": "lime"}, "method"),
    ({"target": "normal"}, "target"),
    ({"faithfulness_images": -1}, "faithfulness_images"),
    ({"threshold": "bogus"}, "threshold"),
    ({"threshold": "1.5"}, "threshold"),
    ({"images": 0}, "images"),
    ({"percentiles": (0, 50)}, "percentiles"),
    ({"percentiles": ()}, "percentiles"),
    ({"class_weight": "x"}, "class_weight"),
    ({"bootstrap": 10}, "bootstrap"),
    ({"ci": 1.0}, "ci"),
    ({"layer": ""}, "layer"),
    ({"batch_size": 0}, "batch_size"),
])
def test_explain_config_rejects_bad_values(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=f"explain: .*{field}"):
        ExplainConfig(**kwargs)


def test_explain_config_accepts_good_values_and_lists_every_bad_one() -> None:
    config = ExplainConfig(images=0, paths=("a.png",), method="gradcam++", target="predicted",
                           threshold="0.3", faithfulness_images=0, class_weight="balanced")
    assert config.paths == ("a.png",) and config.images == 0  # paths stand in for images
    assert ExplainConfig(method="eigencam").method == "eigencam"
    with pytest.raises(ConfigError) as info:
        ExplainConfig(method="x", target="y", faithfulness_images=-2)
    message = str(info.value)
    assert "method" in message and "target" in message and "faithfulness_images" in message
