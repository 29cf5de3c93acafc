"""One backbone pass per crop size for multi-crop views (DINO, LeJEPA), as the DINO reference code groups them:
crops of equal size are concatenated into one batch (one BatchNorm batch, one kernel launch per layer)."""

from __future__ import annotations

import torch
from torch import nn


def forward_multicrop(backbone: nn.Module, crops: list[torch.Tensor]) -> torch.Tensor:
    """Features (V B, F) of crops [(B, C, h_v, w_v)] in view order; consecutive crops of one size share a pass."""
    if not crops:
        raise ValueError("forward_multicrop needs at least one crop")
    outputs, start = [], 0
    while start < len(crops):
        end = start + 1
        while end < len(crops) and crops[end].shape[-2:] == crops[start].shape[-2:]:
            end += 1
        outputs.append(backbone(torch.cat(crops[start:end])))  # ((end - start) B, F)
        start = end
    return torch.cat(outputs)
