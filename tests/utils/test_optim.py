"""LARS trust ratio and exclusions; the warm-up + cosine schedule."""

from __future__ import annotations

import pytest
import torch

from vision_ssl.utils.lars import LARS
from vision_ssl.utils.schedules import WarmupCosine, warmup_cosine_factor


def test_lars_step_matches_formula():
    w = torch.nn.Parameter(torch.tensor([[3.0, 4.0]]))  # ||w|| = 5
    b = torch.nn.Parameter(torch.tensor([1.0]))
    probe = torch.nn.Parameter(torch.tensor([[1.0, 0.0]]))
    opt = LARS([{"params": [w, b]}, {"params": [probe], "lars": False}], lr=0.1, momentum=0.0, weight_decay=0.01, eta=0.02)
    w.grad, b.grad, probe.grad = torch.tensor([[0.0, 1.0]]), torch.tensor([2.0]), torch.tensor([[0.5, 0.5]])
    opt.step()
    g = torch.tensor([[0.0, 1.0]]) + 0.01 * torch.tensor([[3.0, 4.0]])  # weight decay before the trust ratio
    trust = 0.02 * 5.0 / g.norm()
    assert torch.allclose(w.data, torch.tensor([[3.0, 4.0]]) - 0.1 * trust * g)
    assert torch.allclose(b.data, torch.tensor([1.0 - 0.1 * 2.0]))  # 1-D: no decay, no trust ratio
    assert torch.allclose(probe.data, torch.tensor([[1.0 - 0.05, -0.05]]))  # lars: False -> plain SGD (no decay)


def test_lars_rejects_bad_lr():
    with pytest.raises(ValueError, match="lr"):
        LARS([torch.nn.Parameter(torch.zeros(1))], lr=0.0)


def test_warmup_cosine_shape():
    f = [warmup_cosine_factor(s, 10, 110) for s in range(110)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[9:], f[10:], strict=False))  # non-increasing after warm-up
    assert f[-1] == pytest.approx(0.0, abs=1e-3)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    sched = WarmupCosine(opt, warmup_steps=2, total_steps=4)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([1.0, 2.0, 2.0, 1.0])


def test_warmup_cosine_rejects_bad_lengths():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="warmup_steps"):
        WarmupCosine(opt, warmup_steps=5, total_steps=3)
