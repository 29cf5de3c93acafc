"""Projection and prediction heads of the joint-embedding methods, as each paper specifies them.

All are `mlp` calls: [in, hidden..., out], BatchNorm + ReLU after hidden layers unless said otherwise.
"""

from __future__ import annotations

from torch import nn

from vision_ssl.heads.mlp import mlp


def mocov2_projector(in_dim: int, hidden_dim: int = 2048, out_dim: int = 128) -> nn.Sequential:
    """MoCo v2: SimCLR's 2-layer MLP head without BatchNorm, Linear -> ReLU -> Linear (Chen et al. 2020b, Sec. 2)."""
    return mlp([in_dim, hidden_dim, out_dim], batch_norm=False)


def mocov3_projector(in_dim: int, hidden_dim: int = 4096, out_dim: int = 256, num_layers: int = 3) -> nn.Sequential:
    """MoCo v3: BN after every layer including the output (no affine there); 3 layers for ViT, 2 for ResNet
    in the reference code (Chen et al. 2021, Sec. 4 'MLP heads')."""
    return mlp([in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim], last_batch_norm=True, last_bias=False)


def mocov3_predictor(dim: int = 256, hidden_dim: int = 4096) -> nn.Sequential:
    """MoCo v3: 2-layer predictor, BN in the hidden layer, none on the output (Chen et al. 2021, Sec. 4)."""
    return mlp([dim, hidden_dim, dim], last_bias=False)


def byol_projector(in_dim: int, hidden_dim: int = 4096, out_dim: int = 256) -> nn.Sequential:
    """BYOL's projector and predictor: Linear(4096) -> BN -> ReLU -> Linear(256) (Grill et al. 2020, Sec. 3.3)."""
    return mlp([in_dim, hidden_dim, out_dim])


def simsiam_projector(in_dim: int, hidden_dim: int = 2048, out_dim: int = 2048, num_layers: int = 3) -> nn.Sequential:
    """SimSiam: BN on every layer including the output, ReLU except on the output; 3 layers on ImageNet,
    2 on CIFAR (Chen & He 2021, Sec. 4 'Projection MLP')."""
    return mlp([in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim], last_batch_norm=True, last_bias=False)


def simsiam_predictor(dim: int = 2048, hidden_dim: int = 512) -> nn.Sequential:
    """SimSiam: bottleneck predictor Linear(512) -> BN -> ReLU -> Linear(2048), no BN on the output."""
    return mlp([dim, hidden_dim, dim])


def barlow_twins_projector(in_dim: int, hidden_dim: int = 8192, out_dim: int = 8192) -> nn.Sequential:
    """Barlow Twins: 3 linear layers of 8192, BN + ReLU after the first two (Zbontar et al. 2021, Sec. 2)."""
    return mlp([in_dim, hidden_dim, hidden_dim, out_dim], last_bias=False)


def vicreg_expander(in_dim: int, hidden_dim: int = 8192, out_dim: int = 8192) -> nn.Sequential:
    """VICReg: 3 linear layers of 8192, BN + ReLU after the first two (Bardes et al. 2022, Sec. 4.2)."""
    return mlp([in_dim, hidden_dim, hidden_dim, out_dim], last_bias=False)
