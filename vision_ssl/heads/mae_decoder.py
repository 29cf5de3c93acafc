"""MAE's light decoder (He et al. 2021, "Masked Autoencoders Are Scalable Vision Learners", Sec. 3): encoded
visible tokens plus a shared learned mask token at every hidden position, fixed 2-D sine-cosine positions,
a few transformer blocks, and a linear layer predicting each patch's pixels."""

from __future__ import annotations

import torch
from timm.models.vision_transformer import Block
from torch import nn


def sincos_2d(grid: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """Fixed 2-D sine-cosine position embeddings (grid * grid, dim): half the channels encode the row,
    half the column, each as sin/cos at geometrically spaced frequencies (as in MAE's decoder)."""
    if dim % 4:
        raise ValueError(f"dim must be a multiple of 4 for 2-D sin-cos embeddings, got {dim}")
    omega = 1.0 / temperature ** (torch.arange(dim // 4, dtype=torch.float32) / (dim // 4))  # (D/4,)
    rows, cols = torch.meshgrid(torch.arange(grid, dtype=torch.float32), torch.arange(grid, dtype=torch.float32), indexing="ij")
    out_r = rows.flatten()[:, None] * omega[None]  # (N, D/4)
    out_c = cols.flatten()[:, None] * omega[None]
    return torch.cat([out_r.sin(), out_r.cos(), out_c.sin(), out_c.cos()], dim=1)  # (N, D)


class MAEDecoder(nn.Module):
    """Predict the pixels of every patch from the encoded visible patches.

    Args:
        embed_dim: encoder token width.
        num_patches: patches per image (a square grid).
        patch_dim: values per patch (p * p * C).
        decoder_dim: decoder width (paper: 512; narrower for small images).
        depth: decoder blocks (paper: 8; 1-2 suffice for linear probing, Table 1a).
        num_heads: attention heads.
    """

    pos_embed: torch.Tensor  # buffer, registered in __init__

    def __init__(
        self, embed_dim: int, num_patches: int, patch_dim: int, decoder_dim: int = 128, depth: int = 2, num_heads: int = 4
    ) -> None:
        super().__init__()
        grid = round(num_patches**0.5)
        if grid * grid != num_patches:
            raise ValueError(f"num_patches must be a square, got {num_patches}")
        self.embed = nn.Linear(embed_dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        nn.init.normal_(self.mask_token, std=0.02)
        self.register_buffer("pos_embed", sincos_2d(grid, decoder_dim)[None], persistent=False)  # (1, N, Dd)
        self.blocks = nn.Sequential(*[Block(decoder_dim, num_heads, mlp_ratio=4.0, qkv_bias=True) for _ in range(depth)])
        self.norm = nn.LayerNorm(decoder_dim)
        self.pred = nn.Linear(decoder_dim, patch_dim)

    def forward(self, visible: torch.Tensor, keep: torch.Tensor, num_prefix: int = 0) -> torch.Tensor:
        """Encoded tokens (B, P + N_vis, D): the encoder's `num_prefix` = P prefix (class) tokens, then the visible
        patches at patch indices `keep` (B, N_vis) -> predicted patches (B, N, patch_dim). Every hidden position
        gets the mask token (a scatter: no boolean indexing). The prefix tokens join the decoder's sequence
        without a position embedding (as in the MAE reference code) and predict nothing."""
        b, n = keep.shape[0], self.pos_embed.shape[1]
        x = self.embed(visible)  # (B, P + N_vis, Dd)
        prefix, x = x[:, :num_prefix], x[:, num_prefix:]
        full = self.mask_token.to(x.dtype).expand(b, n, -1)  # (B, N, Dd)
        full = full.scatter(1, keep[..., None].expand(-1, -1, x.shape[-1]), x) + self.pos_embed
        x = self.blocks(torch.cat([prefix, full], 1))[:, num_prefix:]
        return self.pred(self.norm(x))  # (B, N, p p C)
