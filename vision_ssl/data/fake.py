"""A small synthetic labelled dataset for tests: each class has its own colour and stripe orientation, so
a working encoder can separate the classes while a random one separates them less well."""

from __future__ import annotations

import math
from typing import Any

import torch

from vision_ssl.data.base import ImageDataModule, TensorImageDataset


def make_fake_images(
    num_samples: int, num_classes: int, size: int, channels: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic uint8 images (N, C, size, size) and labels (N,)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(num_samples) % num_classes
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    angle = labels.float() * math.pi / num_classes  # (N,)
    phase = torch.rand(num_samples, generator=g) * 2 * math.pi
    wave = torch.sin(0.6 * (xx * torch.cos(angle)[:, None, None] + yy * torch.sin(angle)[:, None, None]) + phase[:, None, None])
    colour = torch.rand(num_classes, channels, generator=g)[labels]  # (N, C)
    img = 0.5 + 0.3 * wave[:, None] * colour[:, :, None, None] + 0.1 * torch.randn(num_samples, channels, size, size, generator=g)
    return (img.clamp(0, 1) * 255).round().to(torch.uint8), labels


class FakeDataModule(ImageDataModule):
    """Synthetic images for tests and `fast_dev_run`; no files needed.

    Args:
        num_samples: images in the training split (the test split has a quarter as many).
        num_classes: number of classes; 0: unlabelled (images of 4 kinds, every label -1), as a folder of photos.
    """

    name = "fake"

    def __init__(self, *args: Any, num_samples: int = 256, num_classes: int = 4, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if num_classes == 1 or num_classes < 0:
            raise ValueError(f"num_classes must be 0 (unlabelled) or >= 2, got {num_classes}")
        self.num_samples, self.num_classes = num_samples, num_classes

    def load_split(self, split: str) -> TensorImageDataset:
        kinds = self.num_classes or 4
        n = self.num_samples if split == "train" else max(kinds, self.num_samples // 4)
        seed = self.seed + (0 if split == "train" else 1)
        images, labels = make_fake_images(n, kinds, self.image_size, 3, seed)
        return TensorImageDataset(images, labels if self.num_classes else torch.full_like(labels, -1), self.channels)
