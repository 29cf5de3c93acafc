"""Pure pretext tensor ops: rotations, jigsaw puzzles, patch masks, and the masked reconstruction loss."""

from __future__ import annotations

import itertools

import pytest
import torch

from vision_ssl.losses import masked_mse
from vision_ssl.transforms import (
    center_patch_mask,
    hamming_permutations,
    make_jigsaw,
    mask_to_pixels,
    min_hamming_distance,
    patchify,
    permute_tiles,
    random_patch_mask,
    rotate_batch,
    unpatchify,
    unpermute_tiles,
)
from vision_ssl.transforms.pretext import cut_tiles


def test_rotate_batch_labels_and_pixels():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    rotated, labels = rotate_batch(x)
    assert rotated.shape == (8, 3, 4, 4)
    assert labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    # One counter-clockwise quarter turn moves the top-right pixel to the top-left.
    assert torch.equal(rotated[2, :, 0, 0], x[0, :, 0, 3])
    for r, k in enumerate(labels.tolist()):
        assert torch.equal(rotated[r], torch.rot90(x[r % 2], k, dims=(1, 2)))


def test_four_quarter_turns_are_identity_and_subset():
    x = torch.randn(3, 3, 5, 5)
    y = x
    for _ in range(4):
        y, _ = rotate_batch(y, rotations=(1,))
    assert torch.equal(y, x)
    sub, labels = rotate_batch(x, rotations=(0, 2))
    assert labels.tolist() == [0, 0, 0, 2, 2, 2] and torch.equal(sub[:3], x)
    assert torch.equal(sub[3:], x.flip(-1).flip(-2))
    with pytest.raises(ValueError):
        rotate_batch(x, rotations=(0, 4))


def test_permutation_set_deterministic_and_far_apart():
    perms = hamming_permutations(100, 9, seed=0)
    assert perms.shape == (100, 9)
    assert torch.equal(perms, hamming_permutations(100, 9, seed=0))
    assert all(sorted(p) == list(range(9)) for p in perms.tolist())  # each row is a permutation
    assert len({tuple(p) for p in perms.tolist()}) == 100
    assert min_hamming_distance(perms) >= 6  # the promise in the docstring
    # Greedy max-min beats random sets of the same size by a wide margin.
    g = torch.Generator().manual_seed(0)
    rand = torch.stack([torch.randperm(9, generator=g) for _ in range(100)])
    assert min_hamming_distance(rand) < min_hamming_distance(perms)
    # Small grids (2x2, 24 permutations): the greedy set of 4 is as far apart as possible (all 4 positions).
    assert min_hamming_distance(hamming_permutations(4, 4)) == 4


def test_every_permutation_applied_then_inverted_gives_back_tiles():
    perms = hamming_permutations(100, 9)
    tiles = torch.randn(100, 9, 3, 4, 4)
    labels = torch.arange(100)  # each sample uses a different permutation: all 100 are checked
    shuffled = permute_tiles(tiles, perms, labels)
    assert torch.equal(unpermute_tiles(shuffled, perms, labels), tiles)
    for b in (0, 37, 99):
        for i in range(9):
            assert torch.equal(shuffled[b, i], tiles[b, perms[b, i]])


def test_cut_tiles_positions_and_jigsaw_shapes():
    x = torch.arange(28 * 28, dtype=torch.float32).reshape(1, 1, 28, 28).repeat(2, 3, 1, 1)
    tiles = cut_tiles(x, grid=3, tile_size=7, jitter=False)  # cells of 9 px, offset 1, centred grid
    assert tiles.shape == (2, 9, 3, 7, 7)
    assert torch.equal(tiles[0, 4, 0], x[0, 0, 10:17, 10:17])  # centre cell starts at 0 + 9 + 1
    jittered = cut_tiles(x, grid=3, tile_size=7)
    top_left = jittered[:, :, 0, 0, 0].long()  # value = 28 * row + col of each tile's first pixel
    rows, cols = top_left // 28, top_left % 28
    cell_r, cell_c = torch.arange(9) // 3 * 9, torch.arange(9) % 3 * 9
    assert ((rows - cell_r >= 0) & (rows - cell_r <= 2) & (cols - cell_c >= 0) & (cols - cell_c <= 2)).all()
    perms = hamming_permutations(10, 9)
    puzzle, labels = make_jigsaw(torch.rand(4, 3, 32, 32), perms)
    assert puzzle.shape == (4, 9, 3, 8, 8) and labels.shape == (4,) and labels.max() < 10
    assert torch.allclose(puzzle.mean(dim=(2, 3, 4)), torch.zeros(4, 9), atol=1e-5)  # per-tile normalisation


@pytest.mark.parametrize("ratio,n", [(0.75, 49), (0.75, 64), (0.25, 7), (0.5, 10)])
def test_random_patch_mask_ratio_exact(ratio, n):
    mask = random_patch_mask(16, n, ratio)
    assert mask.dtype == torch.bool and mask.shape == (16, n)
    assert (mask.sum(1) == round(ratio * n)).all()
    assert not torch.equal(mask[0], mask[1]) or n < 8  # independent per sample
    with pytest.raises(ValueError):
        random_patch_mask(2, n, 0.0)


def test_center_mask_and_patchify_roundtrip():
    m = center_patch_mask(2, grid=8)
    assert m.shape == (2, 64) and m.sum(1).tolist() == [16, 16]
    assert m[0].reshape(8, 8)[2:6, 2:6].all()
    x = torch.randn(2, 3, 28, 28)
    p = patchify(x, 4)
    assert p.shape == (2, 49, 48)
    assert torch.equal(p[0, 8].reshape(4, 4, 3).permute(2, 0, 1), x[0, :, 4:8, 4:8])  # patch (1, 1)
    assert torch.equal(unpatchify(p, 4, 3, 28, 28), x)
    pix = mask_to_pixels(random_patch_mask(2, 49, 0.5), 4, 28, 28)
    assert pix.shape == (2, 1, 28, 28)


def reference_masked_mse(pred, target, mask):
    num, den = 0.0, 0.0
    for b, n in itertools.product(range(pred.shape[0]), range(pred.shape[1])):
        if mask[b, n]:
            num += ((pred[b, n] - target[b, n]) ** 2).mean()
            den += 1
    return num / den


def test_masked_mse_matches_reference_and_ignores_visible():
    pred, target = torch.randn(3, 10, 12), torch.randn(3, 10, 12)
    mask = random_patch_mask(3, 10, 0.6)
    loss = masked_mse(pred, target, mask)
    assert torch.allclose(loss, reference_masked_mse(pred, target, mask), atol=1e-6)
    # Changing visible patches, in the prediction or the target, leaves the loss unchanged.
    pred2, target2 = pred.clone(), target.clone()
    pred2[~mask] = 100.0
    target2[~mask] = -50.0
    assert torch.equal(masked_mse(pred2, target2, mask), loss)
    # Gradients reach the hidden patches only.
    pred.requires_grad_(True)
    masked_mse(pred, target, mask).backward()
    assert (pred.grad[~mask] == 0).all() and (pred.grad[mask].abs().sum(-1) > 0).all()


def test_masked_mse_norm_pix_target():
    target = torch.randn(2, 5, 16) * 3 + 7
    mask = torch.ones(2, 5, dtype=torch.bool)
    mean, std = target.mean(-1, keepdim=True), (target.var(-1, keepdim=True) + 1e-6).sqrt()
    perfect = (target - mean) / std
    assert masked_mse(perfect, target, mask, norm_pix=True) < 1e-10
    assert masked_mse(target, target, mask, norm_pix=True) > 1.0  # raw pixels are the wrong target now
    # Pixel masks through patchify: the pixel-level view of the same loss ignores visible pixels too.
    img, rec = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    pmask = random_patch_mask(2, 4, 0.5)
    rec2 = torch.where(mask_to_pixels(pmask, 4, 8, 8), rec, torch.zeros_like(rec))
    assert torch.equal(masked_mse(patchify(rec, 4), patchify(img, 4), pmask),
                       masked_mse(patchify(rec2, 4), patchify(img, 4), pmask))
