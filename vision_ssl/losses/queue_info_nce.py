"""MoCo's InfoNCE against a queue of negative keys (He et al. 2020, "Momentum Contrast for Unsupervised
Visual Representation Learning", Eq. 1; MoCo v2: Chen et al. 2020, arXiv:2003.04297)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vision_ssl.losses.checks import check_pair, check_temperature
from vision_ssl.losses.info_nce import contrastive_cross_entropy
from vision_ssl.losses.precision import float32_loss


@float32_loss
def info_nce_with_queue(
    q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float = 0.2
) -> torch.Tensor:
    """InfoNCE of each query against its key (positive) and every queued key (negatives).

    MoCo's Eq. 1 for a query q with positive key k+ and K queued keys k_i:

        L_q = -log exp(q . k+ / t) / (exp(q . k+ / t) + sum_i exp(q . k_i / t))

    on L2-normalised vectors, averaged over the batch. `q`, `k` and `queue` are normalised here; the caller
    passes keys without gradient (momentum encoder) and a queue that does not yet hold this batch's keys.
    Computed in float32 even under mixed precision.

    Args:
        q: queries, (N, D).
        k: positive keys, (N, D); row i is the positive of `q[i]`.
        queue: negative keys, (K, D).
        temperature: t > 0 (MoCo v2: 0.2).

    Returns:
        Scalar loss.
    """
    check_pair(q, k, "q and k")
    if queue.ndim != 2 or queue.shape[1] != q.shape[1]:
        raise ValueError(f"queue must be (K, D={q.shape[1]}), got {tuple(queue.shape)}")
    check_temperature(temperature)
    q, k, queue = F.normalize(q, dim=1), F.normalize(k, dim=1), F.normalize(queue, dim=1)
    pos = (q * k).sum(dim=1, keepdim=True)  # (N, 1)
    neg = q @ queue.T  # (N, K)
    similarities = torch.cat([pos, neg], dim=1)  # (N, 1 + K); the positive is column 0
    return contrastive_cross_entropy(similarities, torch.zeros(q.shape[0], dtype=torch.long, device=q.device), temperature)


class QueueInfoNCELoss(nn.Module):
    """Module wrapper of `info_nce_with_queue` holding the temperature."""

    def __init__(self, temperature: float = 0.2) -> None:
        super().__init__()
        self.temperature = temperature

    def forward(self, q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor) -> torch.Tensor:
        return info_nce_with_queue(q, k, queue, self.temperature)
