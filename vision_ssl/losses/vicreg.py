"""VICReg loss (Bardes, Ponce & LeCun 2022, "VICReg: Variance-Invariance-Covariance Regularization for
Self-Supervised Learning", Eq. 1-6; reference code facebookresearch/vicreg main_vicreg.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vision_ssl.losses.barlow_twins import off_diagonal
from vision_ssl.losses.checks import check_pair
from vision_ssl.losses.precision import float32_loss
from vision_ssl.utils import distributed


@float32_loss
def vicreg_terms(
    z1: torch.Tensor, z2: torch.Tensor, eps: float = 1e-4, gather_distributed: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The three unweighted VICReg terms (invariance, variance, covariance), each a scalar.

    - invariance s (Eq. 5): mean squared error between the two branches, `F.mse_loss(z1, z2)`;
    - variance v (Eq. 1-2): mean over dimensions of relu(1 - sqrt(Var(z_j) + eps)), unbiased variance,
      averaged over the two branches;
    - covariance c (Eq. 3-4): sum of the squared off-diagonal entries of each branch's covariance matrix
      (normalised by N - 1), divided by D, summed over the two branches.

    With `gather_distributed`, all three are computed on the global batch (the reference gathers before the
    variance and covariance terms and averages the invariance over ranks through DDP: same gradient).
    Computed in float32.
    """
    check_pair(z1, z2)
    if gather_distributed:
        z1, z2 = distributed.gather(z1), distributed.gather(z2)  # (W N, D)
    n, d = z1.shape
    if n < 2:
        raise ValueError("vicreg_loss needs at least 2 samples for the variance and covariance terms")
    invariance = F.mse_loss(z1, z2)
    z1, z2 = z1 - z1.mean(dim=0), z2 - z2.mean(dim=0)
    std1, std2 = torch.sqrt(z1.var(dim=0) + eps), torch.sqrt(z2.var(dim=0) + eps)
    variance = F.relu(1 - std1).mean() / 2 + F.relu(1 - std2).mean() / 2
    cov1, cov2 = z1.T @ z1 / (n - 1), z2.T @ z2 / (n - 1)  # (D, D)
    covariance = off_diagonal(cov1).pow(2).sum() / d + off_diagonal(cov2).pow(2).sum() / d
    return invariance, variance, covariance


@float32_loss
def vicreg_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    sim_weight: float = 25.0,
    var_weight: float = 25.0,
    cov_weight: float = 1.0,
    eps: float = 1e-4,
    gather_distributed: bool = False,
) -> torch.Tensor:
    """VICReg's Eq. 6: lambda s(Z, Z') + mu [v(Z) + v(Z')] + nu [c(Z) + c(Z')], as in main_vicreg.py
    (the variance term there is averaged, not summed, over the two branches; see `vicreg_terms`).

    Args:
        z1: expander outputs of the first views, (N, D).
        z2: expander outputs of the second views, (N, D).
        sim_weight: lambda, weight of the invariance term (paper: 25).
        var_weight: mu, weight of the variance term (paper: 25).
        cov_weight: nu, weight of the covariance term (paper: 1).
        eps: added to the variance before the square root.
        gather_distributed: compute the terms on the global batch of every rank; every rank returns the
            same global loss and DDP's averaging gives exactly the single-process gradient.

    Returns:
        Scalar loss.
    """
    inv, var, cov = vicreg_terms(z1, z2, eps, gather_distributed)
    return sim_weight * inv + var_weight * var + cov_weight * cov


class VICRegLoss(nn.Module):
    """Module wrapper of `vicreg_loss`."""

    def __init__(
        self,
        sim_weight: float = 25.0,
        var_weight: float = 25.0,
        cov_weight: float = 1.0,
        eps: float = 1e-4,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        self.sim_weight, self.var_weight, self.cov_weight = sim_weight, var_weight, cov_weight
        self.eps, self.gather_distributed = eps, gather_distributed

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        return vicreg_loss(
            z1, z2, self.sim_weight, self.var_weight, self.cov_weight, self.eps, self.gather_distributed
        )
