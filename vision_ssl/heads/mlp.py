"""One MLP builder and the projection/prediction head presets of the joint-embedding methods."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def mlp(dims: Sequence[int], batch_norm: bool = True, last_batch_norm: bool = False, last_bias: bool = True) -> nn.Sequential:
    """Linear layers of widths `dims` with (BatchNorm +) ReLU between them.

    Args:
        dims: [in, hidden..., out]; at least two entries.
        batch_norm: BatchNorm1d after every hidden linear layer (before the ReLU).
        last_batch_norm: BatchNorm1d (without affine parameters) after the output layer, as in SimSiam.
        last_bias: bias on the output layer.
    """
    if len(dims) < 2 or min(dims) < 1:
        raise ValueError(f"dims must hold at least two positive widths, got {list(dims)}")
    layers: list[nn.Module] = []
    for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        last = i == len(dims) - 2
        layers.append(nn.Linear(d_in, d_out, bias=last_bias if last else not batch_norm))
        if not last:
            if batch_norm:
                layers.append(nn.BatchNorm1d(d_out))
            layers.append(nn.ReLU(inplace=True))
        elif last_batch_norm:
            layers.append(nn.BatchNorm1d(d_out, affine=False))
    return nn.Sequential(*layers)


def simclr_projector(in_dim: int, hidden_dim: int = 2048, out_dim: int = 128) -> nn.Sequential:
    """SimCLR's g(.): Linear -> BN -> ReLU -> Linear (Chen et al. 2020, Sec. 2.1; BN as in SimCLR v2)."""
    return mlp([in_dim, hidden_dim, out_dim])
