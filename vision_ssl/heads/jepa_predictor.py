"""I-JEPA's predictor (Assran et al. 2023, arXiv:2301.08243, Sec. 3 "Prediction"): a narrow ViT that reads the
context encoder's tokens and, for each target block, a learned mask token at each target position, and outputs
the predicted representations of the target patches.

Positions are fixed 2-D sine-cosine embeddings (timm's `build_sincos2d_pos_embed`), added to the context tokens
(after the linear map to the predictor width) and to the mask tokens, so the predictor knows where the context
came from and which patches to predict. The M target blocks of an image are predicted in M independent passes,
batched as M * B sequences of [context, mask tokens] (as the reference does), so one block's mask tokens never
see another's.
"""

from __future__ import annotations

import torch
from timm.layers.pos_embed_sincos import build_sincos2d_pos_embed
from timm.models.vision_transformer import Block
from torch import nn

from vision_ssl.backbones.vit_tokens import gather_tokens


class JEPAPredictor(nn.Module):
    """Predict target-block representations from context tokens.

    Args:
        embed_dim: width of the encoder tokens (input and output).
        grid: patch rows and columns of the image.
        predictor_dim: predictor width (paper: 384 for ViT-H encoders; narrower than the encoder).
        depth: predictor blocks (paper: 12 for ViT-H; a few for small encoders).
        num_heads: attention heads.
    """

    pos_embed: torch.Tensor  # buffer, registered in __init__

    def __init__(self, embed_dim: int, grid: tuple[int, int], predictor_dim: int = 96, depth: int = 4,
                 num_heads: int = 4) -> None:
        super().__init__()
        if predictor_dim % 4 or predictor_dim % num_heads:
            raise ValueError(f"predictor_dim={predictor_dim} must be a multiple of 4 (2-D sin-cos) and of "
                             f"num_heads={num_heads}")
        self.embed = nn.Linear(embed_dim, predictor_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, predictor_dim))
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        pos = build_sincos2d_pos_embed(list(grid), predictor_dim)  # (N, Dp), row-major like the patches
        self.register_buffer("pos_embed", pos[None], persistent=False)  # (1, N, Dp), fixed
        self.blocks = nn.Sequential(*[Block(predictor_dim, num_heads, mlp_ratio=4.0, qkv_bias=True)
                                      for _ in range(depth)])
        self.norm = nn.LayerNorm(predictor_dim)
        self.proj = nn.Linear(predictor_dim, embed_dim)

    def forward(self, context: torch.Tensor, context_idx: torch.Tensor, target_idx: torch.Tensor) -> torch.Tensor:
        """Context tokens (B, K_c, D) at patch indices (B, K_c), target indices (B, M, K_t) -> predictions
        (B, M, K_t, D)."""
        b, m, k_t = target_idx.shape
        k_c = context.shape[1]
        pos = self.pos_embed.expand(b, -1, -1)  # (B, N, Dp)
        ctx = self.embed(context) + gather_tokens(pos, context_idx)  # (B, K_c, Dp)
        ctx = ctx[:, None].expand(-1, m, -1, -1).reshape(b * m, k_c, -1)  # (B M, K_c, Dp), block-major per image
        queries = self.mask_token + gather_tokens(pos, target_idx.reshape(b, m * k_t))  # (B, M K_t, Dp)
        x = torch.cat([ctx, queries.reshape(b * m, k_t, -1)], dim=1)  # (B M, K_c + K_t, Dp)
        out = self.proj(self.norm(self.blocks(x))[:, k_c:])  # (B M, K_t, D)
        return out.reshape(b, m, k_t, -1)
