"""The SimCLR and BYOL losses against references written here (no lightly in the references)."""

from __future__ import annotations

import math

import pytest
import torch
from method_helpers import float_views, tiny_method
from torch import Tensor


def nt_xent_reference(z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    """NT-Xent by hand: cosine similarities of the ``2B`` views over ``T``, the diagonal
    masked, cross-entropy with the positive at ``i ± B``, mean over the ``2B`` rows."""
    z = torch.cat([z1, z2]).double()
    z = z / z.norm(dim=1, keepdim=True)
    n = z.shape[0]
    b = n // 2
    sim = (z @ z.T) / temperature  # (2B, 2B)
    sim = sim.masked_fill(torch.eye(n, dtype=torch.bool), float("-inf"))
    positive = (torch.arange(n) + b) % n
    log_prob = sim[torch.arange(n), positive] - torch.logsumexp(sim, dim=1)
    return -log_prob.mean()


@pytest.mark.parametrize("temperature", [0.1, 0.2, 0.5])
def test_simclr_criterion_matches_hand_written_nt_xent(temperature: float) -> None:
    """SimCLR's criterion is NT-Xent at the method's temperature on random projections."""
    m = tiny_method("simclr", temperature=temperature)
    g = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn((6, 8), generator=g), torch.randn((6, 8), generator=g)
    got = m.criterion(z1, z2)
    want = nt_xent_reference(z1, z2, temperature)
    assert got.shape == ()
    assert abs(float(got) - float(want)) < 1e-5


def test_nt_xent_reference_is_not_trivial() -> None:
    """The reference depends on the pairing: swapping the rows of one view changes it."""
    g = torch.Generator().manual_seed(4)
    z1, z2 = torch.randn((6, 8), generator=g), torch.randn((6, 8), generator=g)
    assert abs(float(nt_xent_reference(z1, z2, 0.2))
               - float(nt_xent_reference(z1, z2.flip(0), 0.2))) > 1e-2


@pytest.mark.parametrize("temperature", [0.1, 0.2, 0.5])
def test_simclr_criterion_analytic_value(temperature: float) -> None:
    """Identical positives, all other pairs orthogonal: the loss is
    ``-log(e^{1/T} / (e^{1/T} + (2B - 2)))``."""
    b, d = 4, 6
    z = torch.eye(d)[:b] * 3.0  # scale must not matter
    m = tiny_method("simclr", temperature=temperature)
    got = float(m.criterion(z, z.clone()))
    e = math.exp(1.0 / temperature)
    want = -math.log(e / (e + (2 * b - 2)))
    assert got == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_byol_criterion_is_negative_mean_cosine() -> None:
    """BYOL's criterion is ``-mean cos``: ``-1`` on identical rows, ``+1`` on opposite rows,
    and the hand-computed mean on random rows (scale-free)."""
    m = tiny_method("byol")
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn((6, 8), generator=g), torch.randn((6, 8), generator=g)
    assert float(m.criterion(x, x.clone())) == pytest.approx(-1.0, abs=1e-6)
    assert float(m.criterion(x, -x)) == pytest.approx(1.0, abs=1e-6)
    cos = (x * y).sum(1) / (x.norm(dim=1) * y.norm(dim=1))
    assert float(m.criterion(x, 2.5 * y)) == pytest.approx(float(-cos.mean()), abs=1e-6)


def test_byol_symmetric_loss_from_its_own_heads() -> None:
    """BYOL's loss is ``criterion(p1, t2) + criterion(p2, t1)`` from its online and target
    heads, lies in ``[-2, 2]``, and its embeddings are the first view's online projection."""
    m = tiny_method("byol")
    v1, v2 = float_views(6)
    with torch.no_grad():
        loss, emb = m.views_loss([v1, v2])
        z1, p1 = m._online(v1)
        _, p2 = m._online(v2)
        t1, t2 = m._target(v1), m._target(v2)

    def neg_cos(a: Tensor, b: Tensor) -> Tensor:
        return -((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).mean()

    want = neg_cos(p1, t2) + neg_cos(p2, t1)
    assert abs(float(loss) - float(want)) < 1e-5
    assert -2.0 <= float(loss) <= 2.0
    torch.testing.assert_close(emb, z1)
    assert emb.shape == (6, 16)
