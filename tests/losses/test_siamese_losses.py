"""Losses of the Siamese family against references written here, hand-made values, and 20-step descent."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vision_ssl.losses import (
    BarlowTwinsLoss,
    MoCoV3Loss,
    NegativeCosineSimilarity,
    QueueInfoNCELoss,
    VICRegLoss,
    barlow_twins_loss,
    info_nce_with_queue,
    moco_v3_loss,
    negative_cosine_similarity,
    vicreg_loss,
)


# ----------------------------------------------------------------------------- references (plain loops)
def ref_queue_info_nce(q, k, queue, t):
    q, k, queue = (F.normalize(x.double(), dim=1) for x in (q, k, queue))
    total = 0.0
    for i in range(q.shape[0]):
        pos = torch.exp(q[i] @ k[i] / t)
        neg = sum(torch.exp(q[i] @ queue[j] / t) for j in range(queue.shape[0]))
        total = total - torch.log(pos / (pos + neg))
    return total / q.shape[0]


def ref_moco_v3(q, k, t):
    q, k = F.normalize(q.double(), dim=1), F.normalize(k.double(), dim=1)
    total = 0.0
    for i in range(q.shape[0]):
        denom = sum(torch.exp(q[i] @ k[j] / t) for j in range(k.shape[0]))
        total = total - torch.log(torch.exp(q[i] @ k[i] / t) / denom)
    return total / q.shape[0] * 2 * t


def ref_barlow_twins(z1, z2, lam):
    """The authors' main.py: BatchNorm1d(affine=False) in training mode, c = bn(z1).T bn(z2) / N."""
    bn = nn.BatchNorm1d(z1.shape[1], affine=False).double()
    c = bn(z1.double()).T @ bn(z2.double()) / z1.shape[0]
    d = c.shape[0]
    on = sum((c[i, i] - 1) ** 2 for i in range(d))
    off = sum(c[i, j] ** 2 for i in range(d) for j in range(d) if i != j)
    return on + lam * off


def ref_vicreg(x, y, sim=25.0, std=25.0, cov=1.0, eps=1e-4):
    """The authors' main_vicreg.py, one process, with the covariance written as explicit sums."""
    x, y = x.double(), y.double()
    n, d = x.shape
    repr_loss = ((x - y) ** 2).mean()
    x, y = x - x.mean(0), y - y.mean(0)
    std_x, std_y = torch.sqrt(x.var(0) + eps), torch.sqrt(y.var(0) + eps)
    std_loss = torch.relu(1 - std_x).mean() / 2 + torch.relu(1 - std_y).mean() / 2
    cov_loss = 0.0
    for z in (x, y):
        c = z.T @ z / (n - 1)
        cov_loss = cov_loss + sum(c[i, j] ** 2 for i in range(d) for j in range(d) if i != j) / d
    return sim * repr_loss + std * std_loss + cov * cov_loss


def _pair(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)


# ----------------------------------------------------------------------------- against the references
@pytest.mark.parametrize("n,d,k,t", [(3, 4, 5, 0.2), (8, 16, 32, 0.07)])
def test_info_nce_with_queue_matches_reference(n, d, k, t):
    q, key = _pair(n, d, n + k)
    queue = torch.randn(k, d)
    assert torch.allclose(info_nce_with_queue(q, key, queue, t).double(), ref_queue_info_nce(q, key, queue, t), atol=1e-5)
    assert QueueInfoNCELoss(t)(q, key, queue).item() == pytest.approx(info_nce_with_queue(q, key, queue, t).item())


@pytest.mark.parametrize("n,d,t", [(2, 3, 1.0), (8, 16, 0.2)])
def test_moco_v3_loss_matches_reference(n, d, t):
    q, k = _pair(n, d, n * d)
    assert torch.allclose(moco_v3_loss(q, k, t).double(), ref_moco_v3(q, k, t), atol=1e-5)
    assert MoCoV3Loss(t)(q, k).item() == pytest.approx(moco_v3_loss(q, k, t).item())


@pytest.mark.parametrize("n,d,lam", [(4, 3, 5e-3), (16, 8, 0.1)])
def test_barlow_twins_matches_reference(n, d, lam):
    z1, z2 = _pair(n, d, n + d)
    z2 = z2 + 2 * z1  # correlated views
    assert torch.allclose(barlow_twins_loss(z1, z2, lam).double(), ref_barlow_twins(z1, z2, lam), rtol=1e-5)
    assert BarlowTwinsLoss(lam)(z1, z2).item() == pytest.approx(barlow_twins_loss(z1, z2, lam).item())


@pytest.mark.parametrize("n,d", [(4, 3), (16, 8)])
def test_vicreg_matches_reference(n, d):
    z1, z2 = _pair(n, d, 7 * n + d)
    z1 = 0.3 * z1  # some dimensions below std 1, so the hinge is active
    assert torch.allclose(vicreg_loss(z1, z2).double(), ref_vicreg(z1, z2), rtol=1e-5)
    w = dict(sim=2.0, std=3.0, cov=4.0)
    assert vicreg_loss(z1, z2, 2.0, 3.0, 4.0).item() == pytest.approx(ref_vicreg(z1, z2, **w).item(), rel=1e-5)
    assert VICRegLoss()(z1, z2).item() == pytest.approx(vicreg_loss(z1, z2).item())


# ----------------------------------------------------------------------------- hand-made values
def test_hand_made_values():
    t = 0.5
    e = torch.eye(3)
    # query = key = e1, queue = {e2, e3} orthogonal: -log(e^{1/t} / (e^{1/t} + 2))
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2))
    assert info_nce_with_queue(e[:1], e[:1], e[1:], t).item() == pytest.approx(expected, rel=1e-6)
    # MoCo v3: q = k = I_2, t = 1: each row has logits (1, 0) -> 2t * -log(e / (e + 1))
    assert moco_v3_loss(torch.eye(2), torch.eye(2), 1.0).item() == pytest.approx(2 * -math.log(math.e / (math.e + 1)))
    # negative cosine: identical, orthogonal, opposite -> -1, 0, 1; scale-invariant
    p = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    z = torch.tensor([[3.0, 0.0], [0.0, 2.0], [-1.0, 0.0]])
    assert negative_cosine_similarity(p[:1], z[:1]).item() == pytest.approx(-1.0)
    assert negative_cosine_similarity(p, z).item() == pytest.approx(0.0, abs=1e-7)
    assert NegativeCosineSimilarity()(p[2:], z[2:]).item() == pytest.approx(1.0)
    # Barlow Twins: two perfectly correlated dimensions (C = all ones): diagonal term 0, off-diagonal 2 entries
    z1 = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])
    assert barlow_twins_loss(z1, z1.clone(), 0.5).item() == pytest.approx(0.5 * 2, rel=1e-4)
    # ... and anti-correlated views: C = -1 -> (1 - (-1))^2 = 4
    assert barlow_twins_loss(z1[:, :1], -z1[:, :1]).item() == pytest.approx(4.0, rel=1e-4)
    # VICReg: z1 = 0 (collapsed, std 0), z2 = 1: invariance 1, variance hinge (1 - 0.01) on both branches
    assert vicreg_loss(torch.zeros(4, 2), torch.ones(4, 2)).item() == pytest.approx(25 * 1 + 25 * 0.99, rel=1e-6)
    # ... equal, well spread, uncorrelated views: every term is 0
    x = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
    assert vicreg_loss(x, x.clone()).item() == pytest.approx(0.0, abs=1e-7)


def test_rejects_bad_inputs():
    a, b = torch.randn(4, 3), torch.randn(5, 3)
    for fn in (negative_cosine_similarity, barlow_twins_loss, vicreg_loss, moco_v3_loss):
        with pytest.raises(ValueError, match="equal shapes"):
            fn(a, b)
    with pytest.raises(ValueError, match="queue"):
        info_nce_with_queue(a, a, torch.randn(6, 4))
    with pytest.raises(ValueError, match="temperature"):
        moco_v3_loss(a, a, 0.0)
    with pytest.raises(ValueError, match="at least 2"):
        barlow_twins_loss(a[:1], a[:1])


def test_float32_under_autocast():
    z1, z2 = torch.randn(8, 4).bfloat16(), torch.randn(8, 4).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for loss in (barlow_twins_loss(z1, z2), vicreg_loss(z1, z2), moco_v3_loss(z1, z2),
                     negative_cosine_similarity(z1, z2), info_nce_with_queue(z1, z2, torch.randn(5, 4))):
            assert loss.dtype == torch.float32


# ----------------------------------------------------------------------------- optimisation
QUEUE = torch.randn(64, 16, generator=torch.Generator().manual_seed(1))
DESCENT = {
    "info_nce_with_queue": lambda z1, z2: info_nce_with_queue(z1, z2.detach(), QUEUE),
    "moco_v3": lambda z1, z2: moco_v3_loss(z1, z2.detach()),
    "negative_cosine": lambda z1, z2: negative_cosine_similarity(z1, z2.detach()),
    "barlow_twins": lambda z1, z2: barlow_twins_loss(z1, z2),
    "vicreg": lambda z1, z2: vicreg_loss(z1, z2),
}


@pytest.mark.parametrize("name", list(DESCENT))
def test_loss_decreases_after_20_steps(name):
    torch.manual_seed(0)
    x1, x2 = torch.randn(32, 8), torch.randn(32, 8)  # unrelated "views": the encoder must learn to align them
    enc = nn.Linear(8, 16)
    opt = torch.optim.Adam(enc.parameters(), lr=0.05)
    losses = []
    for _ in range(21):
        loss = DESCENT[name](enc(x1), enc(x2))
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < losses[0] - 0.05 * abs(losses[0]), losses
