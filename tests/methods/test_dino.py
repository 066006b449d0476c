"""DINO: the loss is lightly's DINOLoss on the teacher's global and the student's every view,
the teacher gets no gradient and moves only by the EMA, the centre moves, the last layer is
frozen in the first epoch, the teacher temperature warms up, and the teacher's entropy is
logged."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from lightly.loss import DINOLoss
from method_helpers import uint8_batch

from medaug.errors import ConfigError
from medaug.methods import SSLMethod
from medaug.train.data import CacheDataModule
from medaug.train.pretrain import build_method
from medaug.train.pretrain_config import PretrainConfig
from medaug.train.trainer import make_trainer

SIZE, K = 16, 32
SMALL = f"output_dim={K},proj_hidden=64,proj_dim=16"


def _dino(local_crops: int = 2, **kwargs: object) -> SSLMethod:
    torch.manual_seed(0)
    args = ",".join([SMALL, *(f"{k}={v}" for k, v in kwargs.items())])
    config = PretrainConfig(method="dino", ops="crop+flip", backbone="resnet18-small",
                            lr=0.05, batch_size=8, method_args=args, local_crops=local_crops,
                            local_size=8)
    return build_method(config, world=1)


def test_loss_equals_lightlys_dinoloss_on_the_same_outputs() -> None:
    """views_loss is DINOLoss(teacher of the 2 global views, student of all 4 views); the
    embeddings are the student's bottleneck (the head's MLP output) of the first view."""
    m = _dino()
    views = m.make_views(uint8_batch(8, SIZE))
    assert [tuple(v.shape[-2:]) for v in views] == [(16, 16)] * 2 + [(8, 8)] * 2
    with torch.no_grad():
        teacher = [m.teacher_head(m.teacher_backbone(v)) for v in views[:2]]
        student = [m.head(m.backbone(v)) for v in views]
        expected = DINOLoss(K)(teacher, student, epoch=0)
        bottleneck = m.head.layers(m.backbone(views[0]))
        loss, embeddings = m.views_loss(views)
    torch.testing.assert_close(loss, expected)
    assert embeddings.shape == (8, 16)
    torch.testing.assert_close(embeddings, bottleneck)


def test_loss_on_fixed_tensors_matches_lightly() -> None:
    """On fixed teacher/student logits, the criterion DINO builds is lightly's DINOLoss with
    the paper's settings (teacher 0.04, student 0.1, centre momentum 0.9)."""
    m = _dino()
    g = torch.Generator().manual_seed(3)
    teacher = [torch.randn(4, K, generator=g) for _ in range(2)]
    student = [torch.randn(4, K, generator=g) for _ in range(3)]
    ref = DINOLoss(K, warmup_teacher_temp=0.04, teacher_temp=0.04, student_temp=0.1,
                   center_momentum=0.9)
    torch.testing.assert_close(m.criterion(teacher, student, epoch=0),
                               ref(teacher, student, epoch=0))
    torch.testing.assert_close(m.criterion.center, ref.center)


def test_teacher_gets_no_gradient_and_moves_only_by_the_ema(
        monkeypatch: pytest.MonkeyPatch) -> None:
    m = _dino()
    teacher = [*m.teacher_backbone.parameters(), *m.teacher_head.parameters()]
    assert teacher and not any(p.requires_grad for p in teacher)
    before = [p.detach().clone() for p in teacher]
    opt = m.configure_optimizers()["optimizer"]
    loss, _ = m.views_loss(m.make_views(uint8_batch(8, SIZE)))
    loss.backward()
    assert all(p.grad is None for p in teacher)
    assert all(p.grad is not None for p in m.backbone.parameters())
    opt.step()
    assert all(torch.equal(p, b) for p, b in zip(teacher, before, strict=True))
    online = [p.detach().clone() for o, _ in m.momentum_pairs() for p in o.parameters()]
    monkeypatch.setattr(m, "momentum_at", lambda step: 0.9)
    m.on_train_batch_end({"loss": loss.detach()}, None, 0)
    for new, old, x in zip(teacher, before, online, strict=True):
        torch.testing.assert_close(new, 0.9 * old + 0.1 * x, atol=1e-6, rtol=0)
    assert any(not torch.equal(p, b) for p, b in zip(teacher, before, strict=True))


def test_the_centre_moves_after_a_step() -> None:
    """The centre starts at 0 and becomes 0.1 x the mean teacher output of the global views."""
    m = _dino()
    assert torch.count_nonzero(m.criterion.center) == 0
    views = m.make_views(uint8_batch(8, SIZE))
    with torch.no_grad():
        mean = torch.stack([m.teacher_head(m.teacher_backbone(v)) for v in views[:2]]).mean((0, 1))
    m.views_loss(views)
    torch.testing.assert_close(m.criterion.center.flatten(), 0.1 * mean)


def test_last_layer_is_frozen_only_in_the_first_epochs(monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    m = _dino(freeze_last_layer=1)
    loss, _ = m.views_loss(m.make_views(uint8_batch(8, SIZE)))
    loss.backward()
    last = [p for p in m.head.last_layer.parameters() if p.requires_grad]
    assert last and all(p.grad is not None for p in last)
    m.on_after_backward()  # epoch 0 < 1: cancelled
    assert all(p.grad is None for p in last)
    loss, _ = m.views_loss(m.make_views(uint8_batch(8, SIZE)))
    loss.backward()
    monkeypatch.setattr(type(m), "current_epoch", property(lambda self: 1))
    m.on_after_backward()
    assert all(p.grad is not None for p in last)


def test_teacher_entropy_ends() -> None:
    """log K for uniform targets, about 0 for one-hot ones."""
    m = _dino()
    assert float(m.teacher_entropy([torch.zeros(4, K)], 0)) == pytest.approx(math.log(K))
    peaked = torch.zeros(4, K)
    peaked[:, 0] = 10.0
    assert float(m.teacher_entropy([peaked], 0)) < 1e-3


def test_a_lightning_epoch_logs_teacher_entropy_and_keeps_the_last_layer() -> None:
    """One CPU epoch: teacher_entropy in the logged metrics, in (0, log K]; the head's last
    layer unchanged (frozen during epoch 0) while the backbone moved."""
    m = _dino()
    last = [p.detach().clone() for p in m.head.last_layer.parameters()]
    first = [p.detach().clone() for p in m.backbone.parameters()]
    images = np.random.default_rng(0).integers(0, 256, (16, SIZE, SIZE), dtype=np.uint8)
    trainer = make_trainer(accelerator="cpu", devices=1, num_nodes=1, max_epochs=1,
                           logger=False, enable_checkpointing=False, enable_progress_bar=False,
                           enable_model_summary=False, use_distributed_sampler=False)
    trainer.fit(m, datamodule=CacheDataModule(images, np.arange(16), batch_size=8, seed=0))
    entropy = float(trainer.callback_metrics["teacher_entropy"])
    assert 0 < entropy <= math.log(K) + 1e-5
    assert all(torch.equal(a, b) for a, b in zip(m.head.last_layer.parameters(), last,
                                                 strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(m.backbone.parameters(), first,
                                                     strict=True))


def test_teacher_temperature_warms_up_linearly(monkeypatch: pytest.MonkeyPatch) -> None:
    """0.02 -> 0.04 over 3 epochs: 0.02, 0.03, 0.04, then 0.04; views_loss at epoch 1 is
    DINOLoss at teacher temperature 0.03 (and not at 0.04)."""
    m = _dino(warmup_teacher_temp=0.02, teacher_temp=0.04, warmup_teacher_temp_epochs=3)
    temps = [m.teacher_temperature(e) for e in range(5)]
    assert temps == pytest.approx([0.02, 0.03, 0.04, 0.04, 0.04])
    monkeypatch.setattr(type(m), "current_epoch", property(lambda self: 1))
    views = m.make_views(uint8_batch(8, SIZE))
    with torch.no_grad():
        teacher = [m.teacher_head(m.teacher_backbone(v)) for v in views[:2]]
        student = [m.head(m.backbone(v)) for v in views]
        at = {t: DINOLoss(K)(teacher, student, teacher_temp=t) for t in (0.03, 0.04)}
        loss, _ = m.views_loss(views)
    torch.testing.assert_close(loss, at[0.03])
    assert not torch.allclose(loss, at[0.04])


def test_bad_settings() -> None:
    with pytest.raises(ConfigError, match="teacher_temp"):
        _dino(teacher_temp=0)
    with pytest.raises(ConfigError, match="center_momentum"):
        _dino(center_momentum=1.5)
    with pytest.raises(ConfigError, match="two views"):
        _dino().views_loss(_dino().make_views(uint8_batch(8, SIZE))[:1])


def test_collapse_warnings_read_the_teacher_entropy() -> None:
    m = _dino()
    top = math.log(K)
    assert m.collapse_warnings({"epoch": 3, "teacher_entropy": 0.5 * top}) == []
    near_zero = m.collapse_warnings({"epoch": 3, "teacher_entropy": 0.05 * top})
    assert len(near_zero) == 1 and "one prototype" in near_zero[0]
    assert m.collapse_warnings({"epoch": 0, "teacher_entropy": 0.99 * top}) == []  # warm-up
    uniform = m.collapse_warnings({"epoch": 1, "teacher_entropy": 0.99 * top})
    assert len(uniform) == 1 and "uniform" in uniform[0]
