"""A tiny conv net for tests and CPU demos: four 3x3 conv-BN-ReLU blocks and global average pooling."""

from __future__ import annotations

import torch
from torch import nn


def _block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class TinyConvNet(nn.Module):
    """Conv stack with widths (w, 2w, 4w, 4w), strides (1, 2, 2, 2); output (B, 4w) features.

    Args:
        width: channels of the first block.
        in_chans: input channels.
    """

    def __init__(self, width: int = 32, in_chans: int = 3) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        self.features = nn.Sequential(
            _block(in_chans, width, 1),
            _block(width, 2 * width, 2),
            _block(2 * width, 4 * width, 2),
            _block(4 * width, 4 * width, 2),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = 4 * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)  # (B, C)
