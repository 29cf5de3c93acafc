"""The ViT token API (vision_ssl/backbones/vit_tokens.py) and I-JEPA's multi-block masking
(vision_ssl/transforms/multiblock.py): timm's own forward on every patch, gathers by index, and masks whose
shapes, disjointness and block sizes match the paper's recipe."""

from __future__ import annotations

import math
import random

import pytest
import timm
import torch
from torch import nn

from vision_ssl.backbones.vit_tokens import check_vit, encode_patches, gather_tokens, patch_tokens, run_blocks
from vision_ssl.transforms.multiblock import (
    block_indices,
    block_shape,
    fixed_context_length,
    multiblock_masks,
    reference_block_shape,
)

VIT = dict(img_size=16, patch_size=4, embed_dim=32, depth=2, num_heads=2, num_classes=0)
LAYOUTS = {"class_token": {}, "no_embed_class": dict(no_embed_class=True), "registers": dict(reg_tokens=2),
           "no_prefix": dict(class_token=False, global_pool="avg")}


def vit(**kw) -> nn.Module:
    torch.manual_seed(0)
    return timm.create_model("vit_tiny_patch16_224", **{**VIT, **kw}).eval()


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_all_patches_equal_timm_forward_features(layout):
    model = vit(**LAYOUTS[layout])
    x = torch.randn(3, 3, 16, 16)
    expected = model.forward_features(x)[:, model.num_prefix_tokens:]  # (B, N, D)
    torch.testing.assert_close(encode_patches(model, x), expected)


def test_dynamic_img_size_resamples_positions_like_timm():
    model = vit(dynamic_img_size=True)
    x = torch.randn(2, 3, 24, 24)  # a 6x6 grid on a model built for 4x4
    torch.testing.assert_close(encode_patches(model, x), model.forward_features(x)[:, 1:])


def test_gather_follows_the_indices_and_subset_ignores_the_rest():
    model = vit()
    x = torch.randn(2, 3, 16, 16)
    keep = torch.tensor([[0, 5, 7, 15], [3, 2, 1, 0]])
    tokens = patch_tokens(model, x)  # (B, 16, D)
    gathered = gather_tokens(tokens, keep)
    for b in range(2):
        for j in range(4):
            assert torch.equal(gathered[b, j], tokens[b, keep[b, j]])
    # The encoder on a subset depends only on those patches: changing every other pixel changes nothing.
    out = encode_patches(model, x[:1], keep[:1])
    pixels = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    pixels.view(1, 1, 16)[0, 0, keep[0]] = True
    mask = pixels.repeat_interleave(4, 2).repeat_interleave(4, 3)  # (1, 1, 16, 16) kept pixels
    x2 = torch.where(mask, x[:1], torch.randn_like(x[:1]))
    torch.testing.assert_close(encode_patches(model, x2, keep[:1]), out)
    assert not torch.allclose(run_blocks(model, tokens[:1, :4]), out)  # other patches, other outputs
    with pytest.raises(ValueError, match="keep must be"):
        gather_tokens(tokens, keep[0])


def test_check_vit_names_the_method():
    with pytest.raises(ValueError, match="I-JEPA needs a timm VisionTransformer"):
        check_vit(nn.Linear(2, 2), "I-JEPA")


def test_multiblock_shapes_disjoint_and_sorted():
    masks = multiblock_masks(64, (7, 7), random.Random(0))
    ctx, tgt = masks.context, masks.targets
    assert ctx.dtype == tgt.dtype == torch.long
    assert ctx.shape[0] == 64 and tgt.shape[:2] == (64, 4) and ctx.shape[1] >= 1
    assert ctx.min() >= 0 and max(ctx.max(), tgt.max()) < 49
    for b in range(64):
        c = ctx[b].tolist()
        assert c == sorted(set(c))  # distinct, row-major order
        assert not set(c) & set(tgt[b].flatten().tolist())  # the context never shows a target patch
        for block in tgt[b]:  # each target is one solid h x w rectangle
            rows, cols = sorted({i // 7 for i in block.tolist()}), sorted({i % 7 for i in block.tolist()})
            assert len(block) == len(rows) * len(cols) == len(set(block.tolist()))
            assert rows == list(range(rows[0], rows[-1] + 1)) and cols == list(range(cols[0], cols[-1] + 1))
    # The batch is cut to its smallest context: some image keeps exactly that many after removing its targets.
    assert ctx.shape[1] <= 49 - tgt.shape[2]


def test_multiblock_scale_and_aspect_ranges():
    rng = random.Random(1)
    for _ in range(200):  # on a fine grid the rounding is small: the paper's ranges hold to a few percent
        h, w = block_shape(rng, (100, 100), (0.15, 0.2), (0.75, 1.5))
        assert 0.145 <= h * w / 1e4 <= 0.205 and 0.72 <= h / w <= 1.55
        h, w = block_shape(rng, (100, 100), (0.85, 1.0), (1.0, 1.0))
        assert h == w and 0.84 <= h * w / 1e4 <= 1.0
    for _ in range(200):  # on a 7x7 grid each side is off by at most half a patch
        h, w = block_shape(rng, (7, 7), (0.15, 0.2), (0.75, 1.5))
        assert 1 <= h <= 7 and 1 <= w <= 7
        assert (math.sqrt(0.15 * 49 * 0.75) - 0.5) * (math.sqrt(0.15 * 49 / 1.5) - 0.5) <= h * w
        assert h * w <= (math.sqrt(0.2 * 49 * 1.5) + 0.5) * (math.sqrt(0.2 * 49 / 0.75) + 0.5)
    assert block_indices(1, 2, 2, 3, 7) == [9, 10, 11, 16, 17, 18]


def test_multiblock_seeded_and_validated():
    a, b = multiblock_masks(8, (8, 8), random.Random(3)), multiblock_masks(8, (8, 8), random.Random(3))
    assert torch.equal(a.context, b.context) and torch.equal(a.targets, b.targets)
    c = multiblock_masks(8, (8, 8), random.Random(4))
    assert not (torch.equal(a.context, c.context) and torch.equal(a.targets, c.targets))
    with pytest.raises(ValueError, match="target_scale"):
        multiblock_masks(2, (7, 7), target_scale=(0.3, 0.2))
    with pytest.raises(ValueError, match="empty context"):
        multiblock_masks(4, (2, 2), random.Random(0), target_scale=(0.9, 1.0), tries=2)


def test_fixed_context_length_holds_in_every_batch_and_hides_no_target():
    k = fixed_context_length((8, 8))
    assert k == fixed_context_length((8, 8))  # from the configuration alone
    assert 4 <= k < 64
    for seed in range(20):  # batches whose shared block shapes differ
        masks = multiblock_masks(16, (8, 8), random.Random(seed), context_length=k)
        assert masks.context.shape == (16, k)
        for ctx, tgt in zip(masks.context.tolist(), masks.targets.tolist(), strict=True):
            assert len(set(ctx)) == k and ctx == sorted(ctx)
            assert not set(ctx) & {i for block in tgt for i in block}  # topping up never shows a target patch
    with pytest.raises(ValueError, match=r"context_length must be in \[1, 64\].*got 65"):
        multiblock_masks(2, (8, 8), context_length=65)
    with pytest.raises(ValueError, match="fewer than context_length 60"):
        multiblock_masks(2, (8, 8), random.Random(0), context_length=60, tries=1)


def test_reference_layout_follows_the_reference_sampler():
    # Shapes: one draw u sets scale and aspect; area int(scale * N); sides rounded and kept below the grid's.
    rng, twin = random.Random(5), random.Random(5)
    for _ in range(200):
        h, w = reference_block_shape(rng, (7, 7), (0.15, 0.2), (0.75, 1.5))
        u = twin.random()
        area, ratio = int((0.15 + 0.05 * u) * 49), 0.75 + 0.75 * u
        assert (h, w) == (min(6, round(math.sqrt(area * ratio))), min(6, round(math.sqrt(area / ratio))))
    assert reference_block_shape(random.Random(0), (7, 7), (0.85, 1.0), (1.0, 1.0)) == (6, 6)  # 41-49 -> 6x6
    # Corners in [0, H - h): on 7x7 no block, context or target, touches the last row or column.
    seen = set()
    for seed in range(30):
        masks = multiblock_masks(32, (7, 7), random.Random(seed), layout="reference")
        seen |= set(masks.context.flatten().tolist()) | set(masks.targets.flatten().tolist())
        for ctx, tgt in zip(masks.context.tolist(), masks.targets.tolist(), strict=True):
            assert not set(ctx) & {i for block in tgt for i in block}
    assert seen == {r * 7 + c for r in range(6) for c in range(6)}  # exactly the top-left 6x6
    assert 48 in set(multiblock_masks(32, (7, 7), random.Random(0)).context.flatten().tolist())  # uniform reaches it


def test_reference_layout_cuts_contexts_to_their_first_patches():
    # A batch of one draws the same first image as a batch of 64 from the same seed, and is not cut.
    alone = multiblock_masks(1, (7, 7), random.Random(2), layout="reference", tries=1).context[0].tolist()
    batch = multiblock_masks(64, (7, 7), random.Random(2), layout="reference", tries=1).context
    k = batch.shape[1]
    assert k < len(alone)  # the batch minimum cut this image
    assert batch[0].tolist() == alone[:k]  # its first patches in raster order, not a random subset
    with pytest.raises(ValueError, match="layout must be one of \\('uniform', 'reference'\\), got 'ref'"):
        multiblock_masks(2, (7, 7), layout="ref")
