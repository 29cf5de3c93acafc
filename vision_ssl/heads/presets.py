"""Projection and prediction heads of the joint-embedding methods, as each paper specifies them.

All are `mlp` calls: [in, hidden..., out], BatchNorm + ReLU after hidden layers unless said otherwise.
"""

from __future__ import annotations

import torch
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


class DINOHead(nn.Module):
    """DINO's projection head (Caron et al. 2021, Sec. 3.1 and Appendix): a 3-layer MLP (hidden 2048, GELU; BN
    optional, off for ViTs) to a 256-d bottleneck, L2 normalisation, then a weight-normalised linear layer without
    bias to K outputs, its norm g frozen at 1 (`norm_last_layer`, the paper's choice for stability).

    Args:
        in_dim: backbone features.
        out_dim: K (paper: 65536; a few thousand for small datasets).
        hidden_dim: MLP width (paper: 2048).
        bottleneck_dim: width before the last layer (paper: 256).
        num_layers: MLP layers before the last layer (paper: 3).
        batch_norm: BatchNorm after the hidden layers (the reference code's `use_bn_in_head`).
        norm_last_layer: freeze g = 1; False lets the norms train (the reference's option for ViT-B).
    """

    def __init__(self, in_dim: int, out_dim: int = 65536, hidden_dim: int = 2048, bottleneck_dim: int = 256,
                 num_layers: int = 3, batch_norm: bool = False, norm_last_layer: bool = True) -> None:
        super().__init__()
        if num_layers < 1 or min(in_dim, out_dim, hidden_dim, bottleneck_dim) < 1:
            raise ValueError(f"need num_layers >= 1 and positive widths, got {num_layers}, "
                             f"{(in_dim, out_dim, hidden_dim, bottleneck_dim)}")
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [bottleneck_dim]
        layers: list[nn.Module] = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            layers.append(nn.Linear(d_in, d_out))
            if i < len(dims) - 2:
                layers += [nn.BatchNorm1d(d_out)] if batch_norm else []
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)
        for m in self.mlp.modules():
            if isinstance(m, nn.Linear):  # the reference's init: truncated normal, std 0.02, zero bias
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        self.last_layer = nn.utils.parametrizations.weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))
        g = self.last_layer.parametrizations.weight.original0  # (K, 1): the norm of each output's weight row
        with torch.no_grad():
            g.fill_(1.0)
        g.requires_grad_(not norm_last_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features (B, in_dim) -> logits (B, K)."""
        return self.last_layer(nn.functional.normalize(self.mlp(x), dim=-1))
