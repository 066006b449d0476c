"""Encoder specs: seeded random backbones equal to a pretraining run's starting point,
ImageNet weights only from the local hub cache (never downloaded), run folders, and the weight
fingerprints that key the feature cache."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import lightning as L
import pytest
import torch
import torchvision
from torch import nn
from torchvision.models import ResNet18_Weights

from medaug.errors import ConfigError, MedaugError, TrainingError
from medaug.evaluate.encoders import (
    IMAGENET_GRAY_MEAN,
    IMAGENET_GRAY_STD,
    MissingWeights,
    file_sha256,
    load_encoder_spec,
    random_backbone,
    weights_sha256,
)
from medaug.evaluate.linear_eval import random_twin_spec
from medaug.models.backbones import create_backbone
from medaug.store import ENCODER_FILE, export_encoder
from medaug.train.pretrain import build_method
from medaug.train.pretrain_config import PretrainConfig


def _assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def _differ(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return any(not torch.equal(sa[k], sb[k]) for k in sa if sa[k].is_floating_point())


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """torch's hub folder moved under ``tmp_path`` (through ``TORCH_HOME``; a directory set
    with ``torch.hub.set_dir`` would win, so it is cleared for the test and restored)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    path = tmp_path / "torch" / "hub"
    assert Path(torch.hub.get_dir()) == path
    return path


# --- random:<backbone>[@seed] ---------------------------------------------------------------


def test_random_spec_is_reproducible_and_seeded() -> None:
    torch.manual_seed(123)  # the global state before must not matter
    a = load_encoder_spec("random:resnet18@3")
    torch.rand(1000)
    b = load_encoder_spec("random:resnet18@3")
    _assert_same_weights(a.module, b.module)
    assert a.sha256 == b.sha256 == weights_sha256(b.module)
    assert len(a.sha256) == 64
    assert a.name == "random-init(resnet18@3)" and a.spec == "random:resnet18@3"
    assert a.info == {"kind": "random-init", "backbone": "resnet18", "seed": 3}

    c = load_encoder_spec("random:resnet18@4")
    assert _differ(a.module, c.module)
    assert c.sha256 != a.sha256


def test_random_spec_without_seed_means_seed_zero() -> None:
    plain = load_encoder_spec("random:resnet18-small")
    zero = load_encoder_spec("random:resnet18-small@0")
    one = load_encoder_spec("random:resnet18-small@1")
    assert plain.info["seed"] == 0
    assert plain.sha256 == zero.sha256 != one.sha256
    assert plain.name == "random-init(resnet18-small@0)"
    assert load_encoder_spec("random:resnet18-small", name="base").name == "base"


def test_bad_random_seed_and_missing_folder_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="integer"):
        load_encoder_spec("random:resnet18@x")
    missing = tmp_path / "no-such-run"
    with pytest.raises(ConfigError) as info:
        load_encoder_spec(str(missing))
    assert str(missing) in str(info.value)
    with pytest.raises(ConfigError, match="unknown backbone"):
        load_encoder_spec("random:resnet19")


def test_random_backbone_is_a_pretraining_runs_starting_point(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``run_pretrain`` seeds everything with the run's seed, then builds its method: the
    backbone it starts from is ``random_backbone(name, seed)`` weight for weight."""
    for var in ("PL_GLOBAL_SEED", "PL_SEED_WORKERS"):
        monkeypatch.delenv(var, raising=False)  # restored after the test
    L.seed_everything(5, workers=True, verbose=False)
    method = build_method(PretrainConfig(backbone="resnet18-small", seed=5), 1)
    torch.manual_seed(999)
    twin = random_backbone("resnet18-small", 5)
    _assert_same_weights(method.backbone, twin)
    assert weights_sha256(method.backbone) == load_encoder_spec("random:resnet18-small@5").sha256
    assert _differ(twin, random_backbone("resnet18-small", 6))


# --- imagenet:<backbone> --------------------------------------------------------------------


def test_imagenet_weights_missing_are_never_downloaded(hub: Path) -> None:
    expected = hub / "checkpoints" / Path(ResNet18_Weights.IMAGENET1K_V1.url).name
    with pytest.raises(MissingWeights) as info:
        load_encoder_spec("imagenet:resnet18")
    assert isinstance(info.value, MedaugError)
    message = str(info.value)
    assert str(expected) in message
    assert "never downloads" in message
    assert not expected.exists()
    assert not any(p.is_file() for p in hub.parent.rglob("*"))  # nothing was fetched


def test_imagenet_unknown_backbone_is_a_config_error(hub: Path) -> None:
    with pytest.raises(ConfigError, match="resnet18 and resnet50"):
        load_encoder_spec("imagenet:resnet34")


def test_imagenet_weights_from_the_hub_cache(hub: Path) -> None:
    """A torchvision ResNet-18 ``state_dict`` in the hub cache loads with ``conv1`` summed
    over RGB, no ``fc``, and an input standardised with the gray ImageNet statistics."""
    torch.manual_seed(0)
    rgb = torchvision.models.resnet18()
    rgb.eval()
    state = rgb.state_dict()
    path = hub / "checkpoints" / Path(ResNet18_Weights.IMAGENET1K_V1.url).name
    path.parent.mkdir(parents=True)
    torch.save(state, path)

    enc = load_encoder_spec("imagenet:resnet18")
    assert enc.name == "imagenet(resnet18)"
    assert enc.info == {"kind": "imagenet", "backbone": "resnet18", "weights": str(path)}
    assert enc.sha256 == weights_sha256(enc.module)
    module = enc.module.eval()
    loaded = module.state_dict()
    assert torch.equal(loaded["conv1.weight"], state["conv1.weight"].sum(dim=1, keepdim=True))
    assert loaded["conv1.weight"].shape == (64, 1, 7, 7)
    assert not any(k.startswith("fc.") for k in loaded)
    assert isinstance(module.fc, nn.Identity)
    assert torch.equal(loaded["layer4.1.bn2.running_var"], state["layer4.1.bn2.running_var"])

    reference = rgb  # ``state`` keeps the RGB tensors: conv1 and fc are replaced, not changed
    reference.conv1 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    reference.conv1.weight.data.copy_(state["conv1.weight"].sum(dim=1, keepdim=True))
    reference.fc = nn.Identity()
    reference.eval()
    x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = module(x)
        want = reference((x - IMAGENET_GRAY_MEAN) / IMAGENET_GRAY_STD)
        unstandardised = reference(x)
    assert got.shape == (2, 512)
    torch.testing.assert_close(got, want)
    assert not torch.allclose(got, unstandardised)


def test_imagenet_file_of_another_model_is_a_config_error(hub: Path) -> None:
    path = hub / "checkpoints" / Path(ResNet18_Weights.IMAGENET1K_V1.url).name
    path.parent.mkdir(parents=True)
    state = create_backbone("resnet18-small").state_dict()
    state["conv1.weight"] = state["conv1.weight"].repeat(1, 3, 1, 1)
    torch.save(state, path)
    with pytest.raises(ConfigError, match="not torchvision's resnet18"):
        load_encoder_spec("imagenet:resnet18")


# --- run folders ----------------------------------------------------------------------------


def _run_folder(tmp_path: Path, run: dict | None) -> tuple[Path, nn.Module]:
    folder = tmp_path / "run"
    backbone = create_backbone("resnet18-small", seed=11)
    export_encoder(backbone, folder, "resnet18-small", method="simclr", image_size=32)
    if run is not None:
        (folder / "run.json").write_text(json.dumps(run))
    return folder, backbone


def test_run_folder_encoder(tmp_path: Path) -> None:
    run = {"config": {"pretrain": {"seed": 2}}, "status": "finished"}
    folder, backbone = _run_folder(tmp_path, run)
    enc = load_encoder_spec(str(folder))
    assert enc.name == "run" and enc.spec == str(folder)
    assert enc.sha256 == file_sha256(folder / ENCODER_FILE)
    assert enc.info["run_config"] == {"pretrain": {"seed": 2}}
    assert enc.info["run_status"] == "finished"
    assert enc.info["kind"] == "simclr"
    assert enc.info["folder"] == str(folder.resolve())
    assert enc.info["encoder"]["backbone"] == "resnet18-small"
    _assert_same_weights(enc.module, backbone)
    assert random_twin_spec(enc) == "random:resnet18-small@2"

    by_file = load_encoder_spec(str(folder / ENCODER_FILE), name="mine")
    assert by_file.name == "mine" and by_file.sha256 == enc.sha256


def test_run_folder_without_run_record(tmp_path: Path) -> None:
    folder, _ = _run_folder(tmp_path, None)
    enc = load_encoder_spec(str(folder))
    assert enc.info["run_config"] is None
    assert random_twin_spec(enc) is None
    assert random_twin_spec(load_encoder_spec("random:resnet18-small")) is None


def test_supervised_run_twin(tmp_path: Path) -> None:
    folder, _ = _run_folder(tmp_path, {"status": "finished",
                                        "config": {"supervised": {"seed": 4}}})
    assert random_twin_spec(load_encoder_spec(str(folder))) == "random:resnet18-small@4"


def test_a_run_folder_with_a_garbage_record_is_one_line(tmp_path: Path) -> None:
    folder, _ = _run_folder(tmp_path, None)
    (folder / "run.json").write_text("{not json")
    with pytest.raises(TrainingError, match=r"run\.json: not a medaug run record") as caught:
        load_encoder_spec(str(folder))
    assert "\n" not in str(caught.value)


# --- fingerprints ---------------------------------------------------------------------------


def test_weights_sha256_follows_every_weight() -> None:
    module = create_backbone("resnet18-small", seed=0)
    before = weights_sha256(module)
    assert weights_sha256(copy.deepcopy(module)) == before
    changed = copy.deepcopy(module)
    with torch.no_grad():
        changed.layer3[0].conv2.weight[0, 0, 0, 0] += 1e-3
    assert weights_sha256(changed) != before
    buffer = copy.deepcopy(module)
    buffer.bn1.running_mean[0] += 1.0
    assert weights_sha256(buffer) != before


def test_file_sha256(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    assert file_sha256(path) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
