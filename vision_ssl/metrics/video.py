"""Metrics of predicted video frames: per-frame PSNR and SSIM (torchmetrics), best-of-N and mean over samples,
sharpness, and diversity of samples. Pure functions on float frames in [0, data_range], vectorised over samples.

Shapes: a prediction or truth is (B, T, C, H, W); N samples of a stochastic predictor are (N, B, T, C, H, W).
"""

from __future__ import annotations

from typing import cast

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure


def psnr_per_frame(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """PSNR of every frame, (B, T): 10 log10(data_range^2 / MSE) over each frame's pixels."""
    b, t = pred.shape[:2]
    value = peak_signal_noise_ratio(
        pred.flatten(0, 1).float(), target.flatten(0, 1).float(), data_range=data_range, reduction="none", dim=(1, 2, 3)
    )
    return value.view(b, t)


def ssim_per_frame(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """SSIM (Wang et al. 2004; Gaussian window 11, sigma 1.5) of every frame, (B, T)."""
    b, t = pred.shape[:2]
    value = cast(torch.Tensor, structural_similarity_index_measure(  # a tuple only with return_full_image
        pred.flatten(0, 1).float(), target.flatten(0, 1).float(), data_range=data_range, reduction="none"
    ))
    return value.view(b, t)


def best_of_samples(per_sample: torch.Tensor) -> torch.Tensor:
    """Per-frame scores (B, T) of the best sample of each clip, the sample with the highest mean over frames.

    Choosing one sample per clip (not the best per frame) is Denton & Fergus's protocol: a single plausible
    future has to match the whole sequence.

    Args:
        per_sample: scores (N, B, T), higher is better.
    """
    best = per_sample.mean(2).argmax(0)  # (B,)
    return per_sample.gather(0, best[None, :, None].expand(1, *per_sample.shape[1:]))[0]


def _abs_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """|x[i, j] - x[i-1, j]| and |x[i, j] - x[i, j-1]| on the common (H-1, W-1) grid, (..., C, H-1, W-1)."""
    x = x.float()
    return (x[..., 1:, 1:] - x[..., :-1, 1:]).abs(), (x[..., 1:, 1:] - x[..., 1:, :-1]).abs()


def gradient_magnitude(x: torch.Tensor) -> torch.Tensor:
    """Mean image-gradient magnitude sqrt(dy^2 + dx^2) (backward differences) of each image, (...) for (..., C, H, W)."""
    gy, gx = _abs_gradients(x)
    return (gy**2 + gx**2).sqrt().mean((-3, -2, -1))


def sharpness_ratio(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Ratio of predicted to true mean gradient magnitude per frame index, (..., T) for a prediction
    (..., B, T, C, H, W) (e.g. N samples) and a truth (B, T, C, H, W); 1.0 is as sharp as the truth.

    The ratio is of the means over the batch (per frame index), not the mean of per-clip ratios, so a nearly
    empty true frame cannot blow it up.
    """
    return gradient_magnitude(pred).mean(-2) / gradient_magnitude(target).mean(0).clamp_min(1e-8)


def gradient_energy(x: torch.Tensor) -> torch.Tensor:
    """Mean squared image-gradient magnitude dy^2 + dx^2 (backward differences) of each image, (...) for (..., C, H, W)."""
    gy, gx = _abs_gradients(x)
    return (gy**2 + gx**2).mean((-3, -2, -1))


def gradient_energy_ratio(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Ratio of predicted to true mean gradient energy per frame index, (..., T) for a prediction
    (..., B, T, C, H, W) and a truth (B, T, C, H, W); 1.0 is as sharp as the truth.

    The companion of `sharpness_ratio` for the blur of a predictor that averages futures. The mean gradient
    magnitude is linear in intensity, so the average of k equally likely futures whose digits do not overlap (k
    ghosts at 1/k intensity) keeps the ratio of one sharp digit; the squared magnitude scores it 1/k. Blur of
    overlapping futures lowers both.
    """
    return gradient_energy(pred).mean(-2) / gradient_energy(target).mean(0).clamp_min(1e-12)


def gradient_difference_sharpness(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Sharpness difference of Mathieu, Couprie & LeCun 2016 ("Deep multi-scale video prediction beyond mean
    square error", Sec. 4), per frame, (B, T) for (B, T, C, H, W):

        10 log10( data_range^2 / ( (1/N) sum_ij |(grad_i Y + grad_j Y) - (grad_i Yhat + grad_j Yhat)| ) )

    with grad_i Y = |Y[i, j] - Y[i-1, j]|, grad_j Y = |Y[i, j] - Y[i, j-1]| and N the pixels of the (H-1, W-1)
    grid (times channels). Higher is better: the predicted edges match the true ones.
    """
    py, px = _abs_gradients(pred)
    ty, tx = _abs_gradients(target)
    err = ((ty + tx) - (py + px)).abs().mean((-3, -2, -1)).clamp_min(1e-10)
    return 10 * torch.log10(data_range**2 / err)


def diversity(samples: torch.Tensor) -> torch.Tensor:
    """Mean pairwise RMS distance between the N samples of each clip, (B,) for (N, B, T, C, H, W).

    d(a, b) = sqrt(mean((a - b)^2)) over all predicted pixels; averaged over the N (N - 1) / 2 pairs. Zero
    for a deterministic predictor (or N = 1).
    """
    n, b = samples.shape[:2]
    if n < 2:
        return samples.new_zeros(b)
    flat = samples.float().flatten(2).transpose(0, 1)  # (B, N, D)
    dist = torch.cdist(flat, flat) / flat.shape[-1] ** 0.5  # (B, N, N)
    i, j = torch.triu_indices(n, n, offset=1, device=samples.device)
    return dist[:, i, j].mean(1)


def summarize_samples(samples: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> dict[str, torch.Tensor]:
    """Every metric of N predicted futures against the truth, per frame index (T,) except `diversity`.

    Keys: `ssim`, `psnr` (best of the N samples per clip; the only prediction when N = 1), `ssim_mean`,
    `psnr_mean` (mean over samples), `sharpness_ratio`, `gradient_energy_ratio`, `grad_diff_sharpness` (means
    over samples), `diversity` (scalar, mean over clips).

    Args:
        samples: (N, B, T, C, H, W) predicted futures.
        target: (B, T, C, H, W) true futures.
    """
    n = samples.shape[0]
    flat = samples.flatten(0, 1)  # (N B, T, C, H, W)
    tgt = target.expand(n, *target.shape).flatten(0, 1)
    ssim = ssim_per_frame(flat, tgt, data_range).view(n, *target.shape[:2])  # (N, B, T)
    psnr = psnr_per_frame(flat, tgt, data_range).view(n, *target.shape[:2])
    return {
        "ssim": best_of_samples(ssim).mean(0),
        "psnr": best_of_samples(psnr).mean(0),
        "ssim_mean": ssim.mean((0, 1)),
        "psnr_mean": psnr.mean((0, 1)),
        "sharpness_ratio": sharpness_ratio(samples, target).mean(0),  # (N, T) -> (T,)
        "gradient_energy_ratio": gradient_energy_ratio(samples, target).mean(0),
        "grad_diff_sharpness": gradient_difference_sharpness(flat, tgt, data_range).mean(0),
        "diversity": diversity(samples).mean(),
    }
