"""InfoNCE / NT-Xent, the contrastive loss of SimCLR (Chen et al. 2020, "A Simple Framework for
Contrastive Learning of Visual Representations", Eq. 1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vision_ssl.losses.checks import check_pair, check_temperature
from vision_ssl.losses.precision import float32_loss
from vision_ssl.utils import distributed


def contrastive_cross_entropy(
    similarities: torch.Tensor, positives: torch.Tensor, temperature: float, exclude: torch.Tensor | None = None
) -> torch.Tensor:
    """The InfoNCE core shared by SimCLR, MoCo and MoCo v3: cross-entropy of similarities over a temperature.

        L_i = -log exp(s_{i, p_i} / t) / sum_{j not excluded} exp(s_ij / t),  averaged over the rows i,

    where s holds the similarities of each query (row) to every candidate key (column) and p_i is the column of
    row i's positive. The callers differ only in which keys are the columns and which are excluded.

    Args:
        similarities: (N, M) dot products of L2-normalised queries and keys.
        positives: (N,) column of each row's positive key.
        temperature: t > 0.
        exclude: (N,) one column per row to leave out of the softmax (SimCLR: the view itself), or None.

    Returns:
        Scalar loss.
    """
    logits = similarities / temperature
    if exclude is not None:
        logits[torch.arange(logits.shape[0], device=logits.device), exclude] = float("-inf")
    return F.cross_entropy(logits, positives)


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
    check_pair(z1, z2)
    check_temperature(temperature)
    n = z1.shape[0]
    q = F.normalize(torch.cat([z1, z2]), dim=1)  # (2n, D) this rank's views
    if gather_distributed and distributed.is_distributed():
        k1 = distributed.gather(q[:n])  # (W n, D)
        k2 = distributed.gather(q[n:])
        offset, total = distributed.rank() * n, k1.shape[0]
        keys = torch.cat([k1, k2])  # (2 W n, D)
    else:
        offset, total, keys = 0, n, q
    idx = torch.arange(n, device=q.device) + offset
    self_cols = torch.cat([idx, idx + total])  # a view is never its own negative
    pos_cols = torch.cat([idx + total, idx])
    return contrastive_cross_entropy(q @ keys.T, pos_cols, temperature, exclude=self_cols)  # (2n, 2Wn)


class InfoNCELoss(nn.Module):
    """Module wrapper of `info_nce` holding the temperature and gathering flag."""

    def __init__(self, temperature: float = 0.1, gather_distributed: bool = False) -> None:
        super().__init__()
        self.temperature = temperature
        self.gather_distributed = gather_distributed

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return info_nce(z1, z2, self.temperature, self.gather_distributed)
