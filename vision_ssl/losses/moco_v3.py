"""MoCo v3's contrastive loss (Chen, Xie & He 2021, "An Empirical Study of Training Self-Supervised Vision
Transformers", Algorithm 1 and Eq. 1): InfoNCE of queries against the keys of the same (global) batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vision_ssl.losses.checks import check_pair, check_temperature
from vision_ssl.losses.info_nce import contrastive_cross_entropy
from vision_ssl.losses.precision import float32_loss
from vision_ssl.utils import distributed


@float32_loss
def moco_v3_loss(
    q: torch.Tensor, k: torch.Tensor, temperature: float = 0.2, gather_distributed: bool = False
) -> torch.Tensor:
    """ctr(q, k) of Algorithm 1: cross-entropy of q_i against all keys of the batch, positive k_i, times 2t.

        L_q = -log exp(q . k+ / t) / sum_{k in batch} exp(q . k / t)

    on L2-normalised vectors, averaged over the queries and multiplied by 2t as in the paper's pseudo-code
    (it keeps the gradient scale independent of t). The symmetric loss of MoCo v3 is
    `moco_v3_loss(q1, k2) + moco_v3_loss(q2, k1)`. Unlike SimCLR, the other query views are not negatives.
    Computed in float32.

    Args:
        q: queries from the online encoder + predictor, (N, D).
        k: keys from the momentum encoder, (N, D) (usually detached; if not, gradients are exact too).
        temperature: t > 0 (paper: 0.2 for ViT, 1.0 for ResNet-50).
        gather_distributed: use every rank's keys (the global batch) as negatives.

    Returns:
        Scalar loss.
    """
    check_pair(q, k, "q and k")
    check_temperature(temperature)
    n = q.shape[0]
    q, k = F.normalize(q, dim=1), F.normalize(k, dim=1)
    offset = 0
    if gather_distributed and distributed.is_distributed():
        k = distributed.gather(k)  # (W N, D)
        offset = distributed.rank() * n
    labels = torch.arange(n, device=q.device) + offset
    return contrastive_cross_entropy(q @ k.T, labels, temperature) * (2 * temperature)  # (N, W N) similarities


class MoCoV3Loss(nn.Module):
    """Module wrapper of `moco_v3_loss`."""

    def __init__(self, temperature: float = 0.2, gather_distributed: bool = False) -> None:
        super().__init__()
        self.temperature = temperature
        self.gather_distributed = gather_distributed

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return moco_v3_loss(q, k, self.temperature, self.gather_distributed)
