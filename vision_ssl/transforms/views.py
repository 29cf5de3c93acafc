"""Batched view augmentations run on the accelerator after transfer (kornia).

Every module here takes a uint8 or float batch (B, C, H, W) and returns a normalised float32 batch.
Random parameters are drawn per sample and per call, so calling a pipeline twice gives two independent
views. Reproducibility and per-rank independence come from the caller seeding torch's generator
(`SSLMethod` does, from the run seed, the rank and the step).
"""

from __future__ import annotations

from collections.abc import Sequence

import kornia.augmentation as K
import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [0, 1]; float input is returned as float32 unchanged."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


def check_probability(**probabilities: float) -> None:
    for name, p in probabilities.items():
        if not 0 <= p <= 1:
            raise ValueError(f"{name} must be a probability in [0, 1], got {p}")


def pair(name: str, values: Sequence[float]) -> tuple[float, float]:
    """Two values (a tuple, or a list from YAML) as a 2-tuple."""
    if len(values) != 2:
        raise ValueError(f"{name} needs 2 values, got {tuple(values)}")
    return values[0], values[1]


def check_scale(name: str, scale: tuple[float, float]) -> None:
    if not 0 < scale[0] <= scale[1] <= 1:
        raise ValueError(f"{name} must satisfy 0 < min <= max <= 1, got {tuple(scale)}")


def color_pipeline(
    size: int,
    crop_scale: tuple[float, float],
    jitter_strength: float,
    jitter_p: float,
    grayscale_p: float,
    blur_p: float,
    solarize_p: float,
    hflip_p: float,
) -> nn.Module:
    """Crop, flip, colour jitter (0.8 s, 0.8 s, 0.8 s, 0.2 s), grayscale, blur and solarisation, in that order."""
    check_scale("crop_scale", crop_scale)
    check_probability(jitter_p=jitter_p, grayscale_p=grayscale_p, blur_p=blur_p, solarize_p=solarize_p, hflip_p=hflip_p)
    s = jitter_strength
    ops: list[K.AugmentationBase2D] = [K.RandomResizedCrop((size, size), scale=pair("crop_scale", crop_scale)),
                                       K.RandomHorizontalFlip(p=hflip_p)]
    if jitter_p > 0:
        ops.append(K.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s, p=jitter_p))
    if grayscale_p > 0:
        ops.append(K.RandomGrayscale(p=grayscale_p))
    if blur_p > 0:
        kernel = 2 * (size // 20) + 1  # ~10% of the side, odd, as in SimCLR
        ops.append(K.RandomGaussianBlur((kernel, kernel), sigma=(0.1, 2.0), p=blur_p))
    if solarize_p > 0:
        ops.append(K.RandomSolarize(thresholds=0.0, additions=0.0, p=solarize_p))  # threshold 0.5, as BYOL
    return K.AugmentationSequential(*ops)


class Normalize(nn.Module):
    """Deterministic evaluation transform: to float, optional resize to `size`, channel normalisation."""

    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor

    def __init__(
        self,
        size: int | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = to_float(x)
        if self.size is not None and x.shape[-2:] != (self.size, self.size):
            x = nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True)
        return (x - self.mean) / self.std

    def invert(self, x: torch.Tensor) -> torch.Tensor:
        """Back to [0, 1] for display."""
        return (x * self.std + self.mean).clamp(0, 1)
