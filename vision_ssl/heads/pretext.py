"""Heads of the context pretexts: rotation classifier, jigsaw permutation classifier, context-encoder decoder."""

from __future__ import annotations

import math

import torch
from torch import nn

from vision_ssl.heads.mlp import mlp


def rotation_head(in_dim: int, num_rotations: int = 4, hidden_dim: int = 0) -> nn.Sequential:
    """Rotation classifier on backbone features (Gidaris et al. 2018, Sec. 2): linear, or one hidden layer."""
    return mlp([in_dim, hidden_dim, num_rotations] if hidden_dim > 0 else [in_dim, num_rotations])


class JigsawHead(nn.Module):
    """The context-free network's top (Noroozi & Favaro 2016, Fig. 3): a per-tile fully connected layer
    shared by all tiles (their fc6, 512 units), the tile codes concatenated in puzzle order, then a two-layer
    classifier over the permutation set (their fc7 4096 -> fc8).

    Args:
        in_dim: backbone features per tile.
        num_tiles: tiles per puzzle.
        num_perms: size of the permutation set.
        tile_dim: width of the shared per-tile layer.
        hidden_dim: width of the hidden layer of the classifier.
    """

    def __init__(self, in_dim: int, num_tiles: int, num_perms: int, tile_dim: int = 512, hidden_dim: int = 1024) -> None:
        super().__init__()
        self.num_tiles = num_tiles
        self.tile_fc = nn.Sequential(nn.Linear(in_dim, tile_dim), nn.ReLU(inplace=True))
        self.classifier = mlp([num_tiles * tile_dim, hidden_dim, num_perms])

    def forward(self, tile_features: torch.Tensor) -> torch.Tensor:
        """Tile features (B * T, F), grouped by puzzle, in puzzle order -> permutation logits (B, P)."""
        codes = self.tile_fc(tile_features)  # (B T, D)
        return self.classifier(codes.reshape(-1, self.num_tiles * codes.shape[1]))  # (B, T D) -> (B, P)


def _up(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class ConvDecoder(nn.Module):
    """Context-encoder decoder (Pathak et al. 2016, Sec. 3.1): a fully connected bottleneck from the encoder's
    feature vector to a small map, then stride-2 up-convolutions (BN + ReLU) back to the image.

    Pathak et al. connect a spatial encoder map through a channel-wise fully connected layer; our backbones pool
    to a vector, so a plain linear layer to a (4 w, s, s) map stands in for it, with s = ceil(image_size / 8).

    Args:
        in_dim: backbone feature width.
        out_chans: image channels.
        image_size: side of the reconstructed image.
        width: channels of the last up-convolution (the map starts at 4 x width).
    """

    def __init__(self, in_dim: int, out_chans: int = 3, image_size: int = 32, width: int = 64) -> None:
        super().__init__()
        self.image_size, self.width = image_size, width
        self.start = max(1, math.ceil(image_size / 8))
        self.fc = nn.Sequential(nn.Linear(in_dim, 4 * width * self.start**2), nn.ReLU(inplace=True))
        self.up = nn.Sequential(
            _up(4 * width, 2 * width),
            _up(2 * width, width),
            nn.ConvTranspose2d(width, out_chans, 4, stride=2, padding=1),  # linear output: normalised pixels
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Features (B, F) -> image (B, C, image_size, image_size)."""
        x = self.fc(features).reshape(-1, 4 * self.width, self.start, self.start)  # (B, 4w, s, s)
        x = self.up(x)  # (B, C, 8 s, 8 s)
        if x.shape[-1] != self.image_size:  # e.g. 32 -> 28: crop the centre
            off = (x.shape[-1] - self.image_size) // 2
            x = x[..., off : off + self.image_size, off : off + self.image_size]
        return x
