"""info_nce against a loop reference, hand-made values, symmetry and temperature behaviour."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vision_ssl.losses import InfoNCELoss, info_nce


def reference_nt_xent(z1: torch.Tensor, z2: torch.Tensor, t: float) -> torch.Tensor:
    """SimCLR Eq. 1 written as a plain loop over the 2N views."""
    z = F.normalize(torch.cat([z1, z2]), dim=1).double()
    n2 = z.shape[0]
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        j = (i + n) % n2
        sims = [torch.dot(z[i], z[k]) / t for k in range(n2)]
        denom = sum(torch.exp(sims[k]) for k in range(n2) if k != i)
        total = total - torch.log(torch.exp(sims[j]) / denom)
    return total / n2


@pytest.mark.parametrize("n,d,t", [(2, 3, 0.5), (5, 8, 0.1), (16, 4, 1.0)])
def test_matches_loop_reference(n, d, t):
    g = torch.Generator().manual_seed(n * d)
    z1, z2 = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    assert torch.allclose(info_nce(z1, z2, t).double(), reference_nt_xent(z1, z2, t), atol=1e-5)


def test_hand_made_value():
    # Two images, orthogonal unit embeddings, views identical: sim(i, pos) = 1, sim(i, others) = 0 and the
    # other view of the other image is also 0 -> l = -log(e^{1/t} / (e^{1/t} + 2 e^0)).
    t = 0.5
    z = torch.eye(2)
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2.0))
    assert info_nce(z, z.clone(), t).item() == pytest.approx(expected, rel=1e-6)


def test_symmetric_and_scale_invariant():
    z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
    assert torch.allclose(info_nce(z1, z2), info_nce(z2, z1), atol=1e-6)
    assert torch.allclose(info_nce(z1, z2), info_nce(3 * z1, 0.5 * z2), atol=1e-5)


def test_temperature_sharpens():
    # Aligned pairs: a lower temperature makes the positives dominate more, so the loss drops.
    z1 = torch.randn(8, 16)
    z2 = z1 + 0.05 * torch.randn(8, 16)
    losses = [info_nce(z1, z2, t).item() for t in (1.0, 0.5, 0.1)]
    assert losses[0] > losses[1] > losses[2]
    # Random pairs at high temperature approach log(2N - 1), the loss of uniform logits.
    r1, r2 = torch.randn(8, 16), torch.randn(8, 16)
    assert info_nce(r1, r2, 1e4).item() == pytest.approx(math.log(15), rel=1e-3)


def test_float32_under_autocast_and_gradients_flow():
    z1 = torch.randn(4, 8, requires_grad=True)
    z2 = torch.randn(4, 8, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = InfoNCELoss(0.1)(z1.bfloat16(), z2.bfloat16())
    assert loss.dtype == torch.float32
    loss.backward()
    assert z1.grad is not None and z1.grad.abs().sum() > 0 and z2.grad.abs().sum() > 0


@pytest.mark.parametrize("bad", [dict(temperature=0.0), dict(temperature=-1.0)])
def test_rejects_bad_temperature(bad):
    with pytest.raises(ValueError, match="temperature"):
        info_nce(torch.randn(2, 3), torch.randn(2, 3), **bad)


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="equal shapes"):
        info_nce(torch.randn(2, 3), torch.randn(3, 3))
