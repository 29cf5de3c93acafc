"""kNN classification against a direct per-query reference."""

from __future__ import annotations

import math

import pytest
import torch

from vision_ssl.eval import knn_predict


def reference_knn(train_x, train_y, test_x, num_classes, k, t):  # noqa: ANN001, ANN201
    """One query at a time, plain Python: cosine similarities, k best, votes exp(s / T)."""
    preds = []
    for q in test_x:
        sims = [(float(q @ x / (q.norm() * x.norm())), int(y)) for x, y in zip(train_x, train_y, strict=True)]
        sims.sort(key=lambda s: -s[0])
        votes = [0.0] * num_classes
        for s, y in sims[:k]:
            votes[y] += math.exp(s / t)
        preds.append(max(range(num_classes), key=lambda c: votes[c]))
    return torch.tensor(preds)


@pytest.mark.parametrize("k,t", [(1, 0.07), (5, 0.07), (20, 0.5), (500, 0.07)])
def test_knn_matches_reference(k, t):
    g = torch.Generator().manual_seed(0)
    train_x, test_x = torch.randn(60, 8, generator=g), torch.randn(25, 8, generator=g)
    train_y = torch.randint(0, 4, (60,), generator=g)
    got = knn_predict(train_x, train_y, test_x, num_classes=4, k=k, temperature=t, chunk_size=7)
    torch.testing.assert_close(got, reference_knn(train_x, train_y, test_x, 4, min(k, 60), t))


def test_knn_uses_cosine_not_euclidean():
    train_x = torch.tensor([[1.0, 0.0], [0.0, 10.0]])
    train_y = torch.tensor([0, 1])
    # the queries have far larger norms than the bank: only the angle may decide
    assert knn_predict(train_x, train_y, torch.tensor([[100.0, 1.0], [0.01, 1.0]]), 2, k=1).tolist() == [0, 1]


def test_knn_rejects_bad_input():
    with pytest.raises(ValueError):
        knn_predict(torch.randn(0, 4), torch.zeros(0, dtype=torch.long), torch.randn(3, 4), 2)
    with pytest.raises(ValueError):
        knn_predict(torch.randn(5, 4), torch.zeros(5, dtype=torch.long), torch.randn(3, 3), 2)
