"""The variance and covariance regularisers of VICReg on one set of embeddings (Bardes, Ponce & LeCun 2022, Eq.
1-4), the anti-collapse term of FAIR's EB-JEPA video JEPA and of `vision_ssl.methods.video_jepa`:

    v(Z) = (1/D) sum_j max(0, 1 - sqrt(Var(z_j) + eps)),   c(Z) = (1/D) sum_{i != j} C(Z)_{ij}^2,
    C(Z) = (1 / (N - 1)) sum_n (z_n - mean z)(z_n - mean z)^T.
"""

from __future__ import annotations

import torch

from vision_ssl.losses.vicreg import vicreg_terms


def variance_covariance(z: torch.Tensor, eps: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
    """(v(Z), c(Z)) of embeddings (N, D), in float32.

    `vicreg_terms` on the same branch twice: its variance term is the mean of the two (equal) branches' terms and
    its covariance term their sum, hence the halving.
    """
    _, var, cov = vicreg_terms(z, z, eps)
    return var, cov / 2
