"""Masked reconstruction loss of the inpainting pretexts: the context encoder's masked L2 (Pathak et al. 2016,
"Context Encoders: Feature Learning by Inpainting", Eq. 1) and MAE's per-patch loss (He et al. 2021, "Masked
Autoencoders Are Scalable Vision Learners", Sec. 3 "Reconstruction target")."""

from __future__ import annotations

import torch

from vision_ssl.losses.checks import check_pair
from vision_ssl.losses.precision import float32_loss


def normalize_patches(target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Each patch (last dim) to zero mean and unit variance, MAE's `norm_pix_loss` target."""
    mean = target.mean(dim=-1, keepdim=True)
    var = target.var(dim=-1, keepdim=True)
    return (target - mean) / (var + eps).sqrt()


@float32_loss
def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, norm_pix: bool = False) -> torch.Tensor:
    """Mean squared error over the masked patches only.

    With M the binary mask (1 = hidden) over N patches of P values each,

        L = sum_n M_n * ||pred_n - y_n||^2 / P  /  sum_n M_n,

    i.e. the per-pixel MSE averaged over hidden patches; visible patches carry no loss, whatever their
    prediction or content. This is the context encoder's L2 term ||M * (x - F((1 - M) * x))||^2 (Pathak et al.
    2016, Eq. 1, without the adversarial term) normalised per hidden pixel, and MAE's loss (He et al. 2021,
    Sec. 3) where y_n is, with `norm_pix`, the patch normalised by its own mean and std.

    Args:
        pred: predicted patches (B, N, P).
        target: true patches (B, N, P), e.g. from `vision_ssl.transforms.patchify`.
        mask: (B, N), bool or {0, 1}; True/1 where the patch was hidden.
        norm_pix: normalise each target patch by its mean and variance (MAE's better-representations option).

    Returns:
        Scalar loss (computed in float32).
    """
    check_pair(pred, target, "pred and target", "(B, N, P)")
    if mask.shape != pred.shape[:2]:
        raise ValueError(f"mask must be (B, N) = {tuple(pred.shape[:2])}, got {tuple(mask.shape)}")
    if norm_pix:
        target = normalize_patches(target)
    weight = mask.float()  # (B, N)
    per_patch = (pred - target).pow(2).mean(dim=-1)  # (B, N)
    return (per_patch * weight).sum() / weight.sum().clamp_min(1.0)

