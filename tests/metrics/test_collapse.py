"""Collapse monitors against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from vision_ssl.eval import alignment, embedding_std, rankme, uniformity
from vision_ssl.metrics.collapse import collapse_stats, is_collapsed, warn_if_collapsed


def test_rankme_full_rank_identity_like():
    # 64 x 16 with orthogonal equal-norm columns: 16 equal singular values -> p_k = 1/16 (+eps) -> rank 16
    z = torch.cat([torch.eye(16)] * 4) * 3.0
    assert rankme(z) == pytest.approx(16.0, rel=1e-4)


def test_rankme_rank_one_and_two():
    v = torch.randn(32, 1) @ torch.randn(1, 16)  # rank 1: one singular value -> entropy 0 -> 1
    assert rankme(v) == pytest.approx(1.0, abs=1e-3)
    # singular values (3, 1): p = (3/4, 1/4), exp(H) = exp(-(0.75 ln 0.75 + 0.25 ln 0.25))
    z = torch.zeros(10, 4)
    z[0, 0], z[1, 1] = 3.0, 1.0
    expected = math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert rankme(z) == pytest.approx(expected, rel=1e-5)


def test_alignment_uniformity_and_std_by_hand():
    z1 = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    z2 = torch.tensor([[0.0, 5.0], [0.0, 1.0]])
    assert alignment(z1, z2) == pytest.approx(1.0)  # ((sqrt 2)^2 + 0) / 2
    # two orthogonal unit vectors: ||a - b||^2 = 2 -> log exp(-4) = -4
    assert uniformity(z1) == pytest.approx(-4.0)
    collapsed = torch.ones(8, 4) + 1e-9 * torch.randn(8, 4)
    assert uniformity(collapsed) == pytest.approx(0.0, abs=1e-6)
    assert embedding_std(collapsed) < 1e-6
    assert embedding_std(torch.eye(4)) == pytest.approx(0.5)  # each column (1, 0, 0, 0): unbiased std sqrt(0.75 / 3)


def test_collapse_warning():
    healthy = collapse_stats(torch.randn(256, 32))
    assert not is_collapsed(healthy, 32)
    collapsed = collapse_stats(torch.ones(256, 32) + 1e-6 * torch.randn(256, 32))
    with pytest.warns(UserWarning, match="collapsed"):
        assert warn_if_collapsed(collapsed, 32, "in the test")


def test_validation_monitor_bank_knn_and_warning():
    from vision_ssl.eval.monitor import ValidationMonitor

    m = ValidationMonitor(bank_size=8, max_val=6, k=1)
    for _ in range(5):  # labelled features of two well-separated classes; -1 (unlabelled) never votes
        m.add_train(torch.tensor([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]), torch.tensor([0, 1, -1]))
    assert int(m.bank.count) == 8 and m.bank.features.shape == (8, 2)
    m.add_val(torch.tensor([[2.0, 0.1], [0.1, 3.0], [1.0, 0.2]]), torch.tensor([0, 1, 0]))
    stats = m.compute(num_classes=2)
    assert stats["knn_top1"] == 1.0 and set(stats) == {"rankme", "embedding_std", "uniformity", "knn_top1"}
    assert m.val == []  # reset for the next epoch
    m.add_val(torch.ones(6, 2), torch.zeros(6, dtype=torch.long))
    assert m.val_full and m.augmented_features(None, torch.zeros(1, 1, 4, 4), 0) is None
    with pytest.warns(UserWarning, match="collapsed"):
        m.compute(2, "at epoch 3")


def test_validation_monitor_stops_on_nonfinite_features():
    from vision_ssl.eval.monitor import ValidationMonitor

    m = ValidationMonitor(max_val=4)
    m.add_val(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]), torch.tensor([0, 1]))
    with pytest.raises(FloatingPointError, match="non-finite validation features at epoch 0"):
        m.compute(2, "at epoch 0")
