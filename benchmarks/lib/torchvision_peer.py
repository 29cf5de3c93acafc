"""The SimCLR peer of `python -m benchmarks.speed train` on a machine without lightly (the GPU check's machine):
lightly's per-sample `SimCLRTransform` rebuilt from torchvision.transforms.v2, and `SimCLRRef`'s model (backbone,
Linear-BN-ReLU-Linear head, NT-Xent) from our `simclr_projector` and `info_nce`. Labelled as such in every record;
where lightly is installed the peer is lightly's own (`parity_lightly.SimCLRRef`, `two_view_transform`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchvision.transforms import v2

from vision_ssl.heads import simclr_projector
from vision_ssl.losses import info_nce

DESCRIPTION = "torchvision.transforms.v2 per sample, built like lightly's SimCLRTransform (not lightly); " \
    "our simclr_projector + info_nce (Linear-BN-ReLU-Linear and NT-Xent, as lightly's)"


class TwoViews:
    """lightly's SimCLRTransform for a parity `Recipe` (crop scale, flip 0.5, jitter, grayscale, no blur), twice."""

    def __init__(self, r: Any) -> None:
        s = r.jitter_strength
        self.one = v2.Compose([
            v2.RandomResizedCrop(r.image_size, scale=tuple(r.crop_scale), antialias=True), v2.RandomHorizontalFlip(0.5),
            v2.RandomApply([v2.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)], p=r.jitter_p),
            v2.RandomGrayscale(r.grayscale_p), v2.ToImage(), v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(list(r.mean), list(r.std))])

    def __call__(self, image: Any) -> list[torch.Tensor]:
        return [self.one(image), self.one(image)]


class TorchvisionSimCLR(nn.Module):
    """`SimCLRRef`'s contract (`loss(x0, x1)`) without lightly: z = head(backbone(x)) per view, NT-Xent."""

    def __init__(self, backbone: nn.Module, r: Any) -> None:
        super().__init__()
        self.backbone, self.temperature = backbone, r.temperature
        self.head = simclr_projector(backbone.num_features, r.hidden, r.out)

    def loss(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        return info_nce(self.head(self.backbone(x0)), self.head(self.backbone(x1)), self.temperature)
