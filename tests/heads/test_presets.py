"""The head presets (vision_ssl/heads/presets.py, simclr_projector in heads/mlp.py) build the layer spec their
docstrings quote from the papers: layer widths at the paper's defaults, where BatchNorm and ReLU sit, which layers
have a bias, and the output width. Built on the meta device: the 8192-wide heads allocate nothing."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vision_ssl.heads.mlp import simclr_projector
from vision_ssl.heads.presets import (
    DINOHead,
    barlow_twins_projector,
    byol_projector,
    mocov2_projector,
    mocov3_predictor,
    mocov3_projector,
    simsiam_predictor,
    simsiam_projector,
    vicreg_expander,
)

IN = 512  # backbone features (a ResNet-18's)


def spec(head: nn.Module) -> list[tuple]:
    """The layers in order: ("linear", in, out, bias), ("bn", width, affine), ("relu",), ("gelu",)."""
    out: list[tuple] = []
    for m in head.modules():
        if isinstance(m, nn.Linear):
            out.append(("linear", m.in_features, m.out_features, m.bias is not None))
        elif isinstance(m, nn.BatchNorm1d):
            out.append(("bn", m.num_features, m.affine))
        elif isinstance(m, nn.ReLU):
            out.append(("relu",))
        elif isinstance(m, nn.GELU):
            out.append(("gelu",))
    return out


def lin(d_in: int, d_out: int, bias: bool = True) -> tuple:
    return ("linear", d_in, d_out, bias)


def bn(width: int, affine: bool = True) -> tuple:
    return ("bn", width, affine)


RELU, GELU = ("relu",), ("gelu",)

# The docstrings' specs at the defaults. A Linear followed by BatchNorm has no bias (BN's shift replaces it).
SPECS = {
    # SimCLR: Linear -> BN -> ReLU -> Linear, 2048 -> 128
    "simclr": (lambda: simclr_projector(IN), [lin(IN, 2048, False), bn(2048), RELU, lin(2048, 128)]),
    # MoCo v2: Linear -> ReLU -> Linear, no BatchNorm, 2048 -> 128
    "mocov2": (lambda: mocov2_projector(IN), [lin(IN, 2048), RELU, lin(2048, 128)]),
    # MoCo v3 projector: 3 layers (4096, 4096, 256), BN after every layer, the output's without affine
    "mocov3_projector": (lambda: mocov3_projector(IN),
                         [lin(IN, 4096, False), bn(4096), RELU, lin(4096, 4096, False), bn(4096), RELU,
                          lin(4096, 256, False), bn(256, affine=False)]),
    # MoCo v3 with a ResNet: 2 layers
    "mocov3_projector_2": (lambda: mocov3_projector(IN, num_layers=2),
                           [lin(IN, 4096, False), bn(4096), RELU, lin(4096, 256, False), bn(256, affine=False)]),
    # MoCo v3 predictor: 256 -> 4096 (BN, ReLU) -> 256, no BN on the output
    "mocov3_predictor": (lambda: mocov3_predictor(), [lin(256, 4096, False), bn(4096), RELU, lin(4096, 256, False)]),
    # BYOL: Linear(4096) -> BN -> ReLU -> Linear(256)
    "byol": (lambda: byol_projector(IN), [lin(IN, 4096, False), bn(4096), RELU, lin(4096, 256)]),
    # SimSiam projector: 3 layers of 2048, BN on every layer including the output, ReLU except on the output
    "simsiam_projector": (lambda: simsiam_projector(IN),
                          [lin(IN, 2048, False), bn(2048), RELU, lin(2048, 2048, False), bn(2048), RELU,
                           lin(2048, 2048, False), bn(2048, affine=False)]),
    # SimSiam on CIFAR: 2 layers
    "simsiam_projector_2": (lambda: simsiam_projector(IN, num_layers=2),
                            [lin(IN, 2048, False), bn(2048), RELU, lin(2048, 2048, False), bn(2048, affine=False)]),
    # SimSiam predictor: bottleneck 2048 -> 512 (BN, ReLU) -> 2048, no BN on the output
    "simsiam_predictor": (lambda: simsiam_predictor(), [lin(2048, 512, False), bn(512), RELU, lin(512, 2048)]),
    # Barlow Twins: 3 linear layers of 8192, BN + ReLU after the first two
    "barlow_twins": (lambda: barlow_twins_projector(IN),
                     [lin(IN, 8192, False), bn(8192), RELU, lin(8192, 8192, False), bn(8192), RELU,
                      lin(8192, 8192, False)]),
    # VICReg: the same expander
    "vicreg": (lambda: vicreg_expander(IN),
               [lin(IN, 8192, False), bn(8192), RELU, lin(8192, 8192, False), bn(8192), RELU, lin(8192, 8192, False)]),
}


@pytest.mark.parametrize("name", list(SPECS))
def test_preset_builds_the_papers_layer_spec(name: str) -> None:
    build, expected = SPECS[name]
    with torch.device("meta"):
        head = build()
    assert spec(head) == expected


@pytest.mark.parametrize("name", list(SPECS))
def test_preset_output_width_at_small_sizes(name: str) -> None:
    """The same builders at small widths run forward: (B, in) -> (B, out) with the spec's output width."""
    small = {"simclr": simclr_projector(16, 32, 8), "mocov2": mocov2_projector(16, 32, 8),
             "mocov3_projector": mocov3_projector(16, 32, 8), "mocov3_projector_2": mocov3_projector(16, 32, 8, 2),
             "mocov3_predictor": mocov3_predictor(8, 32), "byol": byol_projector(16, 32, 8),
             "simsiam_projector": simsiam_projector(16, 32, 8), "simsiam_projector_2": simsiam_projector(16, 32, 8, 2),
             "simsiam_predictor": simsiam_predictor(8, 4), "barlow_twins": barlow_twins_projector(16, 32, 8),
             "vicreg": vicreg_expander(16, 32, 8)}[name]
    d_in = spec(small)[0][1]
    assert small(torch.randn(4, d_in)).shape == (4, 8)


def test_dino_head_is_a_gelu_mlp_to_a_normalised_bottleneck_and_a_weight_normed_last_layer():
    with torch.device("meta"):
        head = DINOHead(IN)
    # 3 layers: 2048, 2048 (GELU, no BN: the ViT setting), bottleneck 256; then Linear(256, 65536) without bias
    assert spec(head.mlp) == [lin(IN, 2048), GELU, lin(2048, 2048), GELU, lin(2048, 256)]
    assert spec(head.last_layer) == [lin(256, 65536, False)]
    with torch.device("meta"):
        with_bn = DINOHead(IN, batch_norm=True)
    assert spec(with_bn.mlp) == [lin(IN, 2048), bn(2048), GELU, lin(2048, 2048), bn(2048), GELU, lin(2048, 256)]

    small = DINOHead(16, out_dim=10, hidden_dim=32, bottleneck_dim=8)
    g = small.last_layer.parametrizations.weight.original0
    assert torch.equal(g, torch.ones(10, 1)) and not g.requires_grad  # norm_last_layer: g frozen at 1
    assert torch.allclose(small.last_layer.weight.norm(dim=1), torch.ones(10))  # unit-norm rows: logits are cosines
    x = torch.randn(4, 16)
    logits = small(x)
    assert logits.shape == (4, 10) and logits.abs().max() <= 1 + 1e-5  # unit bottleneck x unit rows
    assert DINOHead(16, out_dim=10, hidden_dim=32, bottleneck_dim=8, norm_last_layer=False).last_layer \
        .parametrizations.weight.original0.requires_grad
