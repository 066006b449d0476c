"""The bench's step and its settings: device and precision resolution, the two batch sources
give the same images, the profiled pass is a partition of positive phase times, speed
switches are described as resolved, and a non-finite loss stops the bench."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medaug.bench.dataset_size import synthetic_images
from medaug.bench.train_phases import (
    PHASES,
    BenchStep,
    ResidentBatches,
    StreamedBatches,
    build_bench_method,
    phase_shares,
    place_method,
    profile_phases,
    resolve_device,
    resolve_precision,
    speed_of,
)
from medaug.errors import ConfigError, TrainingError

CPU = torch.device("cpu")


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.usefixtures("no_cuda")
def test_resolve_device_without_cuda() -> None:
    assert resolve_device("auto") == CPU
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto", "cpu") == CPU
    assert resolve_device("cpu", "cpu") == CPU
    for accelerator, device in (("gpu", None), ("cuda", None), ("auto", "cuda")):
        with pytest.raises(ConfigError, match="torch sees no CUDA device"):
            resolve_device(accelerator, device)


def test_resolve_device_refuses_bad_or_clashing_values() -> None:
    with pytest.raises(ConfigError, match="must be one of auto, cpu, gpu, cuda"):
        resolve_device("tpu")
    with pytest.raises(ConfigError, match="--device cuda:1 and --accelerator cpu disagree"):
        resolve_device("cpu", "cuda:1")
    with pytest.raises(ConfigError, match="--device cpu and --accelerator gpu disagree"):
        resolve_device("gpu", "cpu")
    for bad in ("abacus", "meta"):
        with pytest.raises(ConfigError, match="--device must be cpu, cuda or cuda:N"):
            resolve_device("auto", bad)


def test_resolve_precision_on_the_cpu() -> None:
    assert resolve_precision("auto", CPU) == "32-true"
    assert resolve_precision("bf16-mixed", CPU) == "bf16-mixed"
    with pytest.raises(ConfigError, match="16-mixed needs CUDA"):
        resolve_precision("16-mixed", CPU)
    with pytest.raises(ConfigError, match="must be one of auto, bf16-mixed"):
        resolve_precision("half", CPU)


def test_speed_is_described_as_resolved() -> None:
    assert speed_of("auto", "auto", CPU) == "compile off (auto), channels-last off (auto)"
    assert speed_of("off", "on", CPU) == "compile off, channels-last on"
    assert speed_of("auto", "auto", torch.device("cuda", 0)) == \
        "compile on (auto), channels-last on (auto)"


def test_streamed_and_resident_batches_are_the_same_images() -> None:
    images = synthetic_images(20, 16, seed=3)
    positions = [np.array([4, 0, 19, 7]), np.array([1, 2, 3, 5])]
    streamed = StreamedBatches(images, positions, CPU)
    resident = ResidentBatches(images, positions, CPU)
    assert not streamed.resident and resident.resident
    for k in range(3):  # positions repeat after the last step
        expected = torch.from_numpy(images[positions[k % 2]])
        assert torch.equal(streamed.fetch(k), expected)
        assert torch.equal(resident.fetch(k), expected)
        assert streamed.fetch(k).dtype == torch.uint8


def _step(name: str = "simclr") -> BenchStep:
    method, weight_decay = build_bench_method(name, "crop+flip", "resnet18-small", 4)
    return BenchStep(place_method(method, CPU, "off", "off"), weight_decay, "32-true")


@pytest.mark.parametrize("name", ["simclr", "byol"])
def test_profiled_phases_partition_the_step(name: str) -> None:
    step = _step(name)
    source = ResidentBatches(synthetic_images(8, 16), [np.arange(4), np.arange(4, 8)], CPU)
    phases = profile_phases(step, source, steps=2)
    assert list(phases) == list(PHASES)
    assert all(seconds > 0 for seconds in phases.values()), phases
    shares = phase_shares(phases)
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-6)
    assert all(0 < share < 1 for share in shares.values())
    assert step.count == 2 and step.method.seed == step.base_seed
    with pytest.raises(TrainingError, match="steps >= 1"):
        profile_phases(step, source, steps=0)


def test_a_non_finite_loss_stops_the_bench() -> None:
    step = _step()
    source = StreamedBatches(synthetic_images(4, 16), [np.arange(4)], CPU)
    with torch.no_grad():
        next(step.method.backbone.parameters()).fill_(float("nan"))
    step.step(source, 0)
    with pytest.raises(TrainingError, match="simclr loss became non-finite by step 1"):
        step.flush()
