"""InfoNCE / NT-Xent, the contrastive loss of SimCLR (Chen et al. 2020, "A Simple Framework for
Contrastive Learning of Visual Representations", Eq. 1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vision_ssl.losses.precision import float32_loss
from vision_ssl.utils import distributed


@float32_loss
def info_nce(
    z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1, gather_distributed: bool = False
) -> torch.Tensor:
    """NT-Xent over the 2N views of a batch.

    For the view pair (i, j) of one image, SimCLR's Eq. 1 is

        l(i, j) = -log exp(sim(z_i, z_j) / t) / sum_{k != i} exp(sim(z_i, z_k) / t)

    with sim the cosine similarity and the sum over the other 2N - 1 views (the positive and 2N - 2
    negatives). The loss is the mean of l over all 2N views, which makes it symmetric in `z1`, `z2`.
    It is computed in float32 even under mixed precision: exp(sim / t) with small t overflows fp16/bf16.

    Args:
        z1: projections of the first views, (N, D).
        z2: projections of the second views, (N, D); row i is the positive of `z1[i]`.
        temperature: t > 0.
        gather_distributed: use the views of every rank as negatives (global batch). Gradients are exact:
            DDP's averaging then equals the gradient of the loss on the concatenated global batch.

    Returns:
        Scalar loss.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"z1 and z2 must both be (N, D) with equal shapes, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    n = z1.shape[0]
    q = F.normalize(torch.cat([z1, z2]), dim=1)  # (2n, D) this rank's views
    if gather_distributed and distributed.is_distributed():
        k1 = distributed.gather(q[:n])  # (W n, D)
        k2 = distributed.gather(q[n:])
        offset, total = distributed.rank() * n, k1.shape[0]
        keys = torch.cat([k1, k2])  # (2 W n, D)
    else:
        offset, total, keys = 0, n, q
    logits = q @ keys.T / temperature  # (2n, 2Wn)
    idx = torch.arange(n, device=q.device) + offset
    self_cols = torch.cat([idx, idx + total])
    pos_cols = torch.cat([idx + total, idx])
    rows = torch.arange(2 * n, device=q.device)
    logits[rows, self_cols] = float("-inf")  # a view is never its own negative
    return F.cross_entropy(logits, pos_cols)


class InfoNCELoss(nn.Module):
    """Module wrapper of `info_nce` holding the temperature and gathering flag."""

    def __init__(self, temperature: float = 0.1, gather_distributed: bool = False) -> None:
        super().__init__()
        self.temperature = temperature
        self.gather_distributed = gather_distributed

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return info_nce(z1, z2, self.temperature, self.gather_distributed)
