"""Video metrics against values computed by hand on tiny frames."""

from __future__ import annotations

import itertools
import math

import torch

from vision_ssl.metrics.video import (
    best_of_samples,
    diversity,
    gradient_difference_sharpness,
    gradient_energy_ratio,
    gradient_magnitude,
    psnr_per_frame,
    sharpness_ratio,
    ssim_per_frame,
    summarize_samples,
)

EDGE = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])  # a vertical edge, (3, 3)


def test_psnr_per_frame():
    target = torch.full((1, 2, 1, 4, 4), 0.5)
    pred = target.clone()
    pred[0, 0] = 0.0  # MSE 0.25 -> 10 log10(1 / 0.25)
    pred[0, 1] = 0.4  # MSE 0.01 -> 20 dB
    value = psnr_per_frame(pred, target)
    assert value.shape == (1, 2)
    torch.testing.assert_close(value, torch.tensor([[10 * math.log10(4.0), 20.0]]))


def test_ssim_per_frame_constant_images():
    # constant frames: every window has mean mu and no variance, so SSIM = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)
    pred, target = torch.full((1, 1, 1, 16, 16), 0.2), torch.full((1, 1, 1, 16, 16), 0.6)
    c1 = 0.01**2
    expected = (2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1)
    # float32 cancellation in E[x^2] - mu^2 is ~1e-8, against C2 = 9e-4: agreement to ~1e-4
    torch.testing.assert_close(ssim_per_frame(pred, target), torch.tensor([[expected]]), atol=2e-4, rtol=0)
    noise = torch.rand(1, 3, 1, 16, 16)
    torch.testing.assert_close(ssim_per_frame(noise, noise), torch.ones(1, 3))


def test_best_of_samples_picks_one_sample_per_clip():
    scores = torch.tensor([  # (N=2, B=2, T=2)
        [[0.9, 0.1], [0.5, 0.5]],
        [[0.4, 0.4], [0.6, 0.6]],
    ])  # fmt: skip
    # clip 0: means 0.5 vs 0.4 -> sample 0 (its per-frame scores, not the per-frame max); clip 1: sample 1
    torch.testing.assert_close(best_of_samples(scores), torch.tensor([[0.9, 0.1], [0.6, 0.6]]))


def test_gradient_magnitude_and_sharpness_ratio():
    x = EDGE[None, None, None]  # (1, 1, 1, 3, 3)
    # on the 2x2 grid: dy = 0 everywhere, dx = [[0, 1], [0, 1]] -> mean magnitude 0.5
    torch.testing.assert_close(gradient_magnitude(x), torch.tensor([[0.5]]))
    diag = torch.tensor([[0.0, 0.0], [0.0, 1.0]])[None, None, None]  # dy = dx = 1 at one of 1 pixel -> sqrt(2)
    torch.testing.assert_close(gradient_magnitude(diag), torch.tensor([[math.sqrt(2)]]))
    torch.testing.assert_close(sharpness_ratio(0.5 * x, x), torch.tensor([0.5]))
    torch.testing.assert_close(sharpness_ratio(x, x), torch.tensor([1.0]))


def test_ghosts_of_averaged_futures_fool_the_magnitude_ratio_not_the_energy_ratio():
    # Two equally likely futures: one square left, one right. Their mean (what MSE learns) is two half-bright ghosts.
    left, right = torch.zeros(1, 1, 1, 8, 16), torch.zeros(1, 1, 1, 8, 16)
    left[..., 2:6, 2:6] = 1.0
    right[..., 2:6, 10:14] = 1.0
    mean = (left + right) / 2
    torch.testing.assert_close(sharpness_ratio(mean, left), torch.tensor([1.0]))  # linear: blind to ghosting
    torch.testing.assert_close(gradient_energy_ratio(mean, left), torch.tensor([0.5]))  # 2 ghosts: 1/2
    torch.testing.assert_close(gradient_energy_ratio(right, left), torch.tensor([1.0]))  # a sharp (wrong) future: 1
    assert gradient_difference_sharpness(mean, left) < gradient_difference_sharpness(left + 0.01, left)


def test_gradient_difference_sharpness_mathieu():
    target = EDGE[None, None, None]
    # prediction all zeros: |(grad_i Y + grad_j Y) - 0| averages to 0.5 -> 10 log10(1 / 0.5)
    value = gradient_difference_sharpness(torch.zeros_like(target), target)
    torch.testing.assert_close(value, torch.tensor([[10 * math.log10(2.0)]]))
    # a blurred edge (0, 0.5, 1) has gradients (0.5, 0.5) instead of (0, 1): error 0.5 per pixel as well
    blurred = torch.tensor([[0.0, 0.5, 1.0]] * 3)[None, None, None]
    torch.testing.assert_close(gradient_difference_sharpness(blurred, target), torch.tensor([[10 * math.log10(2.0)]]))
    assert gradient_difference_sharpness(target + 0.01, target) > 50  # same edges, shifted intensity


def test_diversity_mean_pairwise_rms_distance():
    base = torch.rand(1, 2, 1, 3, 3)
    samples = torch.stack([base, base + 0.1, base + 0.3])  # (N=3, B=1, T=2, 1, 3, 3)
    torch.testing.assert_close(diversity(samples), torch.tensor([0.2]), atol=1e-4, rtol=0)  # (0.1 + 0.3 + 0.2) / 3
    samples = torch.rand(5, 2, 3, 1, 4, 4)
    reference = torch.stack([
        ((samples[a] - samples[b]) ** 2).flatten(1).mean(1).sqrt() for a, b in itertools.combinations(range(5), 2)
    ]).mean(0)  # fmt: skip
    torch.testing.assert_close(diversity(samples), reference, atol=1e-4, rtol=0)
    assert diversity(samples[:1]).eq(0).all()


def test_summarize_samples_best_of_n_beats_mean():
    target = torch.rand(2, 3, 1, 16, 16)
    samples = torch.stack([torch.rand_like(target), target + 0.01 * torch.randn_like(target)])
    out = summarize_samples(samples.clamp(0, 1), target)
    assert out["ssim"].shape == (3,) and out["diversity"].shape == ()
    assert (out["ssim"] > 0.9).all() and (out["ssim_mean"] < out["ssim"]).all()
    assert (out["psnr"] > out["psnr_mean"]).all()
    assert out["diversity"] > 0.1


def test_summarize_samples_vectorised_ratios_equal_the_per_sample_loop():
    g = torch.Generator().manual_seed(0)
    target, samples = torch.rand(3, 2, 1, 8, 8, generator=g), torch.rand(4, 3, 2, 1, 8, 8, generator=g)
    out = summarize_samples(samples, target)
    for key, fn in (("sharpness_ratio", sharpness_ratio), ("gradient_energy_ratio", gradient_energy_ratio)):
        reference = torch.stack([fn(s, target) for s in samples]).mean(0)  # one sample at a time
        torch.testing.assert_close(out[key], reference)
