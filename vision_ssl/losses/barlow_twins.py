"""Barlow Twins loss (Zbontar et al. 2021, "Barlow Twins: Self-Supervised Learning via Redundancy
Reduction", Eq. 1-2; reference code facebookresearch/barlowtwins main.py)."""

from __future__ import annotations

import torch
from torch import nn

from vision_ssl.losses.checks import check_pair
from vision_ssl.losses.precision import float32_loss
from vision_ssl.utils import distributed


def _standardise(z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Per-dimension batch standardisation with the biased variance, as `BatchNorm1d(affine=False)` in training."""
    return (z - z.mean(dim=0)) / torch.sqrt(z.var(dim=0, unbiased=False) + eps)


def off_diagonal(m: torch.Tensor) -> torch.Tensor:
    """The off-diagonal entries of a square matrix (D, D), flattened to (D * (D - 1),)."""
    d = m.shape[0]
    return m.flatten()[:-1].view(d - 1, d + 1)[:, 1:].flatten()


@float32_loss
def barlow_twins_loss(
    z1: torch.Tensor, z2: torch.Tensor, lambda_offdiag: float = 5e-3, gather_distributed: bool = False
) -> torch.Tensor:
    """Barlow Twins' redundancy-reduction loss.

    With C the cross-correlation matrix of the batch-standardised embeddings (Eq. 2),

        C_ij = sum_b z1_bi z2_bj / N,

    the loss (Eq. 1) is  sum_i (1 - C_ii)^2 + lambda * sum_i sum_{j != i} C_ij^2.  Standardisation uses the
    biased variance and eps = 1e-5, as the reference's `BatchNorm1d(affine=False)`. Computed in float32.

    Args:
        z1: projections of the first views, (N, D).
        z2: projections of the second views, (N, D).
        lambda_offdiag: weight of the redundancy-reduction term (paper: 5e-3).
        gather_distributed: standardise and correlate over the global batch of every rank (the paper's
            setting: SyncBatchNorm and an all-reduced C). Every rank then returns the same global loss and
            DDP's gradient averaging gives exactly the single-process gradient.

    Returns:
        Scalar loss.
    """
    check_pair(z1, z2)
    if gather_distributed:
        z1, z2 = distributed.gather(z1), distributed.gather(z2)  # (W N, D)
    if z1.shape[0] < 2:
        raise ValueError("barlow_twins_loss needs at least 2 samples to standardise the batch")
    c = _standardise(z1).T @ _standardise(z2) / z1.shape[0]  # (D, D)
    on_diag = (torch.diagonal(c) - 1).pow(2).sum()
    return on_diag + lambda_offdiag * off_diagonal(c).pow(2).sum()


class BarlowTwinsLoss(nn.Module):
    """Module wrapper of `barlow_twins_loss`."""

    def __init__(self, lambda_offdiag: float = 5e-3, gather_distributed: bool = False) -> None:
        super().__init__()
        self.lambda_offdiag = lambda_offdiag
        self.gather_distributed = gather_distributed

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return barlow_twins_loss(z1, z2, self.lambda_offdiag, self.gather_distributed)
