"""CPU and GPU give the same augmentation for the same seed (runs only where CUDA exists)."""

from __future__ import annotations

import pytest
import torch
from aug_helpers import gen, noise

from medaug.augment import available_ops, build_pipeline, create_op

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
@pytest.mark.parametrize("name", available_ops())
def test_op_on_gpu_matches_cpu(name: str) -> None:
    op = create_op(name, p=1.0)
    x = noise(8, 48)
    cpu = op(x, gen(3))
    gpu = op(x.cuda(), gen(3))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=1e-4)


@cuda
def test_pipeline_on_gpu_matches_cpu() -> None:
    pipe = build_pipeline("crop+rotate+flip+blur+chessboard+erase+intensity")
    x = noise(16, 64)
    torch.testing.assert_close(pipe(x.cuda(), gen(1)).cpu(), pipe(x, gen(1)), atol=1e-4,
                               rtol=1e-4)
