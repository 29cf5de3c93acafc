"""Negative cosine similarity, the loss of BYOL (Grill et al. 2020, "Bootstrap Your Own Latent", Eq. 2)
and SimSiam (Chen & He 2021, "Exploring Simple Siamese Representation Learning", Eq. 1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vision_ssl.losses.checks import check_pair
from vision_ssl.losses.precision import float32_loss


@float32_loss
def negative_cosine_similarity(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of -cos(p_i, z_i).

    SimSiam's Eq. 1 is D(p, z) = -p/||p|| . z/||z||. BYOL's Eq. 2, ||p/||p|| - z/||z|| ||^2 = 2 - 2 cos(p, z),
    is the same up to the affine map 2 + 2 D, so it has the same minimiser and 2x the gradient. The caller
    detaches the target `z` (stop-gradient); this function does not, so it can be tested on its own.
    Computed in float32 even under mixed precision.

    Args:
        p: predictions, (N, D).
        z: targets, (N, D).

    Returns:
        Scalar in [-1, 1].
    """
    check_pair(p, z, "p and z")
    return -F.cosine_similarity(p, z, dim=1).mean()


class NegativeCosineSimilarity(nn.Module):
    """Module wrapper of `negative_cosine_similarity`."""

    def forward(self, p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return negative_cosine_similarity(p, z)
