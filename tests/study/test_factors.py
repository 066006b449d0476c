"""Factor levels set preprocessing, pretraining and method options; a study re-run must ask
for the same study."""

from __future__ import annotations

import pytest
from fakes import raw_config

from medaug.data.config import PrepareConfig
from medaug.errors import ConfigError
from medaug.study.config import settle, study_from_dict
from medaug.study.factors import apply_levels, check_factor, data_levels
from medaug.train.pretrain_config import PretrainConfig


def test_levels_reach_their_options() -> None:
    data, pre = apply_levels(PrepareConfig(), PretrainConfig(method="simclr"),
                             {"clahe": "off", "size": "32", "lr": "0.01",
                              "optimizer": "adamw", "temperature": "0.2"})
    assert data.preprocess.clahe is False and data.preprocess.size == 32
    assert pre.lr == 0.01 and pre.optimizer == "adamw"
    assert pre.method_args == "temperature=0.2"
    assert data_levels({"clahe": "on", "lr": "0.1"}) == {"clahe": "on"}


def test_bad_factors_are_refused() -> None:
    with pytest.raises(ConfigError, match="not a preprocessing or pretraining option"):
        check_factor("temperature", ("simclr", "byol"))  # BYOL has no temperature
    check_factor("temperature", ("simclr",))
    with pytest.raises(ConfigError, match="size"):
        apply_levels(PrepareConfig(), PretrainConfig(), {"size": "big"})


def test_a_rerun_may_change_only_how_it_runs(tmp_path) -> None:
    config = study_from_dict(raw_config())
    settle(tmp_path, config)
    raw = raw_config()
    raw["study"]["heartbeat"] = 1.0
    settle(tmp_path, study_from_dict(raw))  # runtime option: accepted
    raw["pretrain"]["epochs"] = 3
    with pytest.raises(ConfigError, match=r"pretrain\.epochs: 1 there, 3 asked"):
        settle(tmp_path, study_from_dict(raw))


def test_imbalance_is_a_data_factor_that_thins_abnormal_train_patients(tmp_path) -> None:
    import pandas as pd

    from medaug.data.imbalance import subsample_positives
    from medaug.data.manifest import Manifest

    rows = [{"path": f"{s}{i}.png", "label": int(i % 2 == 0 or s != "train"),
             "patient_id": f"{s}{i // 2}", "split": s}
            for s, n in (("train", 40), ("val", 8), ("test", 8)) for i in range(n)]
    manifest = Manifest(pd.DataFrame(rows), "planted")
    thinned = subsample_positives(manifest, 4.0, seed=0).frame
    train = thinned[thinned["split"] == "train"]
    assert (train["label"] == 0).sum() == 20 and (train["label"] == 1).sum() == 5
    assert len(thinned[thinned["split"] != "train"]) == 16  # val and test untouched
    kept = set(train.loc[train["label"] == 1, "patient_id"])
    full = manifest.frame
    # whole patients: every abnormal image of a kept patient stays
    assert (full[(full["split"] == "train") & full["patient_id"].isin(kept)
                 & (full["label"] == 1)].shape[0]) == 5
    assert subsample_positives(manifest, None) is manifest
    data, _ = apply_levels(PrepareConfig(), PretrainConfig(), {"imbalance": "4"})
    assert data.data.options.imbalance == 4.0
    none, _ = apply_levels(PrepareConfig(), PretrainConfig(), {"imbalance": "none"})
    assert none.data.options.imbalance is None
    assert data_levels({"imbalance": "4", "lr": "1"}) == {"imbalance": "4"}
