"""The LightlySSL side of the throughput comparison, built the way lightly's own SimCLR examples are: a dataset
yielding PIL images, `SimCLRTransform` applied per sample in DataLoader workers, and a model of a backbone plus
`SimCLRProjectionHead` trained with `NTXentLoss`, one forward per view (lightly's idiom).

lightly is a `bench` extra (`pip install -e '.[bench]'`), never a dependency of vision_ssl.
"""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image
from torch import nn
from torch.utils.data import Dataset


def require_lightly() -> Any:
    try:
        import lightly
    except ImportError as err:
        raise ImportError("the side-by-side benchmark needs LightlySSL: pip install -e '.[bench]'") from err
    return lightly


class PILDataset(Dataset):
    """uint8 images (N, C, H, W) served as PIL RGB images through `transform`, like a torchvision dataset."""

    def __init__(self, images: torch.Tensor, transform: Any) -> None:
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        x = self.images[i]
        if x.shape[0] == 1:
            x = x.expand(3, -1, -1)
        return self.transform(Image.fromarray(x.permute(1, 2, 0).numpy(), mode="RGB")), 0


def simclr_transform(size: int) -> Any:
    """lightly's SimCLRTransform with the recipe of our `SimCLRViews` defaults: crop (0.08, 1), flip 0.5, jitter
    strength 0.5 with p 0.8, grayscale 0.2, no blur (small images), ImageNet normalisation."""
    from lightly.transforms import SimCLRTransform

    return SimCLRTransform(input_size=size, cj_strength=0.5, min_scale=0.08, random_gray_scale=0.2, gaussian_blur=0.0)


class LightlySimCLR(nn.Module):
    """Backbone + lightly's `SimCLRProjectionHead` (Linear-BN-ReLU-Linear, like ours)."""

    def __init__(self, backbone: nn.Module, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        from lightly.models.modules import SimCLRProjectionHead

        self.backbone = backbone
        self.projection_head = SimCLRProjectionHead(backbone.num_features, hidden_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection_head(self.backbone(x))


def lightly_step(model: LightlySimCLR, criterion: nn.Module, opt: torch.optim.Optimizer, x0: torch.Tensor,
                 x1: torch.Tensor, autocast: torch.autocast | None = None) -> torch.Tensor:
    """One SimCLR step as lightly's example loop writes it: z0 = model(x0), z1 = model(x1), NT-Xent."""
    with autocast if autocast is not None else torch.autocast(x0.device.type, enabled=False):
        loss = criterion(model(x0), model(x1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()
