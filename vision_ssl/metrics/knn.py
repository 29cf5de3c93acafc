"""Weighted k-nearest-neighbour classification of features (Wu, Xiong, Yu & Lin 2018, "Unsupervised Feature
Learning via Non-Parametric Instance Discrimination", arXiv:1805.01978, Sec. 3.4; the variant DINO reports,
Caron et al. 2021, arXiv:2104.14294). Pure functions: the evaluator (`vision_ssl.eval.knn`) and the validation
monitor use them.

Features are L2-normalised; each of the k most cosine-similar training features votes for its label with
weight exp(s / T); k = 200 and T = 0.07 as in the papers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


@torch.no_grad()
def knn_predict(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    num_classes: int,
    k: int = 200,
    temperature: float = 0.07,
    chunk_size: int = 1024,
) -> torch.Tensor:
    """Predicted labels (M,) of `test_features` (M, F) by a similarity-weighted vote of their k neighbours.

    score_c(x) = sum over the k nearest training features t_i with label c of exp(cos(x, t_i) / T).

    Args:
        train_features: bank of features (N, F); need not be normalised.
        train_labels: their labels (N,) in [0, num_classes).
        test_features: query features (M, F).
        num_classes: number of classes.
        k: neighbours voting (clipped to N).
        temperature: T of the vote weights.
        chunk_size: queries per similarity matrix, to bound memory at chunk_size x N.

    Raises:
        ValueError: empty bank, mismatched shapes, or a non-positive k/temperature.
    """
    if train_features.ndim != 2 or test_features.ndim != 2 or train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            f"features must be (N, F) and (M, F), got {tuple(train_features.shape)} and {tuple(test_features.shape)}"
        )
    if len(train_features) == 0 or len(train_features) != len(train_labels):
        raise ValueError(f"need a non-empty bank with one label per feature, got {len(train_features)} features "
                         f"and {len(train_labels)} labels")
    if k < 1 or temperature <= 0:
        raise ValueError(f"k must be >= 1 and temperature > 0, got k={k}, temperature={temperature}")
    k = min(k, len(train_features))
    bank = F.normalize(train_features.float(), dim=1)  # (N, F)
    labels = train_labels.to(bank.device).long()
    preds = []
    for queries in test_features.float().split(chunk_size):
        sim = F.normalize(queries.to(bank.device), dim=1) @ bank.T  # (m, N) cosine similarities
        top_sim, top_idx = sim.topk(k, dim=1)  # (m, k)
        weights = (top_sim / temperature).exp()
        votes = torch.zeros(len(queries), num_classes, device=bank.device)
        votes.scatter_add_(1, labels[top_idx], weights)  # (m, C)
        preds.append(votes.argmax(1))
    return torch.cat(preds).cpu()


def knn_top1(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    num_classes: int,
    k: int = 200,
    temperature: float = 0.07,
) -> float:
    """Top-1 accuracy of `knn_predict`; labels < 0 (unlabelled) are dropped from the bank and the queries."""
    keep_tr, keep_te = train_labels >= 0, test_labels >= 0
    pred = knn_predict(train_features[keep_tr], train_labels[keep_tr], test_features[keep_te], num_classes, k, temperature)
    return (pred == test_labels[keep_te].cpu()).float().mean().item()
