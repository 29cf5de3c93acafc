"""Token-level access to a timm `VisionTransformer`, for methods whose encoder sees a subset of the patches
(MAE's visible patches, I-JEPA's context block).

timm's `forward_features` runs patch embedding, position embedding, the blocks and the final norm on every
patch. Masked methods need the same steps with a gather in the middle:

    tokens = patch_tokens(vit, x)              # (B, N, D) patch tokens with their position embeddings
    tokens = gather_tokens(tokens, keep)       # (B, K, D) the kept patches, by index (no boolean masks)
    out = run_blocks(vit, tokens)              # (B, K, D) prefix tokens added, blocks, norm, prefix removed

With `keep` covering every patch in order, `run_blocks(vit, patch_tokens(vit, x))` equals
`vit.forward_features(x)` without its prefix tokens (tests/backbones/test_vit_tokens.py). Both position-embedding layouts
of timm are handled: embeddings covering the prefix tokens (class/register tokens; original ViT, DeiT) and
embeddings covering the patches only (`no_embed_class=True`, DeiT III). With `dynamic_img_size=True` the patch
position embeddings are resampled to the input's grid by timm's `resample_abs_pos_embed`. timm's random
`patch_drop` is not applied: the keep-indices replace it.
"""

from __future__ import annotations

import torch
from timm.layers import resample_abs_pos_embed
from timm.models.vision_transformer import VisionTransformer
from torch import nn


def check_vit(model: nn.Module, method: str) -> VisionTransformer:
    """`model` as a timm VisionTransformer with absolute position embeddings, or a ValueError naming `method`."""
    if not isinstance(model, VisionTransformer) or model.pos_embed is None:
        raise ValueError(f"{method} needs a timm VisionTransformer with absolute position embeddings (e.g. "
                         f"'vit_tiny_patch16_224' with backbone_kwargs {{patch_size: 4}}), got {type(model).__name__}")
    return model


def vit_backbone_kwargs(kwargs: dict, method: str, **defaults: object) -> dict:
    """`kwargs` for an `SSLMethod` whose backbone must be a timm ViT (default `vit_tiny_patch16_224`), with
    `defaults` under the user's `backbone_kwargs`; a named non-ViT backbone is a ValueError naming `method`."""
    name = kwargs.setdefault("backbone", "vit_tiny_patch16_224")
    if not str(name).startswith(("vit_", "deit_", "deit3_")):
        raise ValueError(f"{method} needs a timm VisionTransformer (e.g. 'vit_tiny_patch16_224' with backbone_kwargs "
                         f"{{patch_size: 4}}), got backbone '{name}'")
    kwargs["backbone_kwargs"] = {"img_size": kwargs.get("image_size", 32), **defaults, **(kwargs.get("backbone_kwargs") or {})}
    return kwargs


def abs_pos_embed(vit: VisionTransformer) -> torch.Tensor:
    """The absolute position embeddings of `vit` (`check_vit` guarantees them; none with `pos_embed='none'`)."""
    if vit.pos_embed is None:
        raise ValueError("the ViT has no absolute position embeddings (built with pos_embed='none')")
    return vit.pos_embed


def patch_pos_embed(vit: VisionTransformer, grid: tuple[int, int] | None = None) -> torch.Tensor:
    """Position embeddings (1, N, D) of the patch tokens only, resampled when `grid` differs from the trained one."""
    n_prefix = 0 if vit.no_embed_class else vit.num_prefix_tokens
    pos = abs_pos_embed(vit)[:, n_prefix:]  # (1, N_train, D)
    trained = tuple(vit.patch_embed.grid_size)
    if grid is not None and tuple(grid) != trained:
        pos = resample_abs_pos_embed(pos, new_size=list(grid), old_size=list(trained), num_prefix_tokens=0)
    return pos


def patch_tokens(vit: VisionTransformer, x: torch.Tensor) -> torch.Tensor:
    """Images (B, C, H, W) -> patch tokens with their position embeddings (B, N, D), row-major patch order."""
    tokens = vit.patch_embed(x)  # (B, N, D), or (B, h, w, D) with dynamic_img_size (timm's NHWC output)
    grid = None
    if tokens.ndim == 4:
        grid = (tokens.shape[1], tokens.shape[2])
        tokens = tokens.flatten(1, 2)  # (B, h w, D)
    return tokens + patch_pos_embed(vit, grid)


def prefix_tokens(vit: VisionTransformer, batch_size: int) -> torch.Tensor | None:
    """The class and register tokens (B, P, D) with their position embeddings (none if `no_embed_class`);
    None when the model has no prefix tokens."""
    parts = [t.expand(batch_size, -1, -1) for t in (vit.cls_token, vit.reg_token) if t is not None]
    if not parts:
        return None
    prefix = torch.cat(parts, dim=1)  # (B, P, D)
    if not vit.no_embed_class:
        prefix = prefix + abs_pos_embed(vit)[:, : vit.num_prefix_tokens]
    return prefix


def gather_tokens(tokens: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Tokens (B, N, D) at keep-indices (B, K) -> (B, K, D), in the order of `keep` (torch.gather: no host sync)."""
    if keep.ndim != 2 or keep.shape[0] != tokens.shape[0]:
        raise ValueError(f"keep must be (B={tokens.shape[0]}, K) indices, got shape {tuple(keep.shape)}")
    return torch.gather(tokens, 1, keep[..., None].expand(-1, -1, tokens.shape[-1]))


def run_blocks(vit: VisionTransformer, tokens: torch.Tensor, keep_prefix: bool = False) -> torch.Tensor:
    """Position-embedded patch tokens (B, K, D) (any subset) -> encoded patch tokens (B, K, D): the prefix tokens
    join them, then timm's pos_drop, norm_pre, blocks and norm run; the prefix outputs are dropped, or kept in
    front ((B, P + K, D)) with `keep_prefix`."""
    prefix = prefix_tokens(vit, tokens.shape[0])
    n_prefix = 0 if prefix is None or keep_prefix else prefix.shape[1]
    x = tokens if prefix is None else torch.cat([prefix, tokens], dim=1)  # (B, P + K, D)
    x = vit.norm(vit.blocks(vit.norm_pre(vit.pos_drop(x))))
    return x[:, n_prefix:]


def encode_patches(vit: VisionTransformer, x: torch.Tensor, keep: torch.Tensor | None = None,
                   keep_prefix: bool = False) -> torch.Tensor:  # fmt: skip
    """Encoder outputs (B, K, D) of the patches at `keep` (B, K) of images `x`; every patch when `keep` is None.
    With `keep_prefix` the outputs of the P prefix (class/register) tokens come first: (B, P + K, D)."""
    tokens = patch_tokens(vit, x)
    return run_blocks(vit, tokens if keep is None else gather_tokens(tokens, keep), keep_prefix)
