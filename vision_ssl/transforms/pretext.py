"""Pure tensor operations of the context pretexts: rotations, jigsaw tiles, patch masks and (un)patchify.

Nothing here holds state or parameters; randomness comes from torch's global generator (or `generator`), which
`SSLMethod.make_views` seeds per step, so pretext inputs are reproducible like the views are.

- `rotate_batch`: all k x 90 degree rotations of a batch with their labels (Gidaris et al. 2018).
- `hamming_permutations`, `make_jigsaw`, `permute_tiles`, `unpermute_tiles`: jigsaw puzzles (Noroozi & Favaro 2016).
- `random_patch_split`, `random_patch_mask`, `center_patch_mask`, `patchify`, `unpatchify`: masked-patch inpainting (Pathak et al. 2016;
  He et al. 2021).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence

import numpy as np
import torch


# ----------------------------------------------------------------------------------------------- rotations
def rotate_batch(x: torch.Tensor, rotations: Sequence[int] = (0, 1, 2, 3)) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image rotated by each k x 90 degrees (counter-clockwise) in `rotations`, grouped by rotation.

    Args:
        x: images (B, C, H, W), square when a rotation by 90 or 270 degrees is asked for.
        rotations: multiples k of 90 degrees, each in {0, 1, 2, 3}.

    Returns:
        rotated (R B, C, H, W) with block r holding `rot90(x, rotations[r])`, and labels (R B,) holding k.
    """
    if not rotations or any(k not in (0, 1, 2, 3) for k in rotations) or len(set(rotations)) != len(rotations):
        raise ValueError(f"rotations must be distinct values in {{0, 1, 2, 3}}, got {list(rotations)}")
    if any(k % 2 for k in rotations) and x.shape[-1] != x.shape[-2]:
        raise ValueError(f"90/270 degree rotations need square images, got {tuple(x.shape[-2:])}")
    rotated = torch.cat([torch.rot90(x, k, dims=(-2, -1)) for k in rotations])  # (R B, C, H, W)
    labels = torch.tensor(rotations, device=x.device).repeat_interleave(x.shape[0])  # (R B,)
    return rotated, labels


# ----------------------------------------------------------------------------------------------- jigsaw
@functools.lru_cache(maxsize=8)
def _hamming_permutations(num_perms: int, num_tiles: int, seed: int, pool_size: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if math.factorial(num_tiles) <= pool_size:
        pool = np.array(list(itertools.permutations(range(num_tiles))), dtype=np.int8)  # (n!, T)
    else:  # too many to enumerate (4x4 grids): greedy selection over a seeded random pool
        pool = np.stack([rng.permutation(num_tiles) for _ in range(pool_size)]).astype(np.int8)
    if num_perms > len(pool):
        raise ValueError(f"num_perms={num_perms} exceeds the {len(pool)} available permutations of {num_tiles} tiles")
    chosen = [int(rng.integers(len(pool)))]
    min_dist = (pool != pool[chosen[0]]).sum(1, dtype=np.int8)  # (n!,) distance to the chosen set
    for _ in range(num_perms - 1):
        best = int(min_dist.argmax())  # first of the farthest: deterministic
        chosen.append(best)
        np.minimum(min_dist, (pool != pool[best]).sum(1, dtype=np.int8), out=min_dist)
    return pool[chosen].astype(np.int64)


def hamming_permutations(num_perms: int = 100, num_tiles: int = 9, seed: int = 0, pool_size: int = 400_000) -> torch.Tensor:
    """A fixed set of tile permutations far apart in Hamming distance (Noroozi & Favaro 2016, Sec. 3.2).

    Greedy max-min selection: start from a seeded random permutation, then repeatedly add the candidate whose
    smallest Hamming distance to the permutations chosen so far is largest. Candidates are all T! permutations
    when there are at most `pool_size` of them (3x3 grids), else `pool_size` seeded random ones. The result
    depends only on the arguments. With the defaults (100 permutations of 9 tiles, seed 0) every pair differs
    in at least 6 of the 9 positions (see `min_hamming_distance`).

    Returns:
        permutations (num_perms, num_tiles), int64; row k lists which source tile goes to each position.
    """
    if num_tiles < 2 or num_perms < 2:
        raise ValueError(f"need num_tiles >= 2 and num_perms >= 2, got {num_tiles} and {num_perms}")
    return torch.from_numpy(_hamming_permutations(num_perms, num_tiles, seed, pool_size).copy())


def min_hamming_distance(perms: torch.Tensor) -> int:
    """Smallest number of positions in which two distinct rows of `perms` (P, T) differ."""
    d = (perms[:, None, :] != perms[None, :, :]).sum(-1)  # (P, P)
    d.fill_diagonal_(perms.shape[1] + 1)
    return int(d.min())


def permute_tiles(tiles: torch.Tensor, perms: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Shuffle tiles (B, T, ...) in grid order: output position i of sample b gets tile `perms[labels[b], i]`."""
    order = perms.to(tiles.device)[labels]  # (B, T)
    return tiles[torch.arange(tiles.shape[0], device=tiles.device)[:, None], order]


def unpermute_tiles(shuffled: torch.Tensor, perms: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Inverse of `permute_tiles`: back to grid order."""
    inverse = perms.argsort(dim=1).to(shuffled.device)[labels]  # (B, T)
    return shuffled[torch.arange(shuffled.shape[0], device=shuffled.device)[:, None], inverse]


def cut_tiles(x: torch.Tensor, grid: int, tile_size: int, jitter: bool = True) -> torch.Tensor:
    """Cut a `grid` x `grid` puzzle: one `tile_size` crop per cell, at a random offset inside the cell.

    Cells have side `H // grid` (the grid is centred when H is not a multiple); the crop being smaller than the
    cell leaves a random gap between neighbouring tiles, so edges and low-level continuity cannot be matched
    (Noroozi & Favaro 2016, Sec. 3.3: 64-pixel tiles from 75-pixel cells).

    Args:
        x: images (B, C, H, W), square.
        grid: tiles per side.
        tile_size: side of each tile, at most the cell side.
        jitter: random offsets per sample and tile; False takes the centre of each cell.

    Returns:
        tiles (B, grid * grid, C, tile_size, tile_size) in row-major grid order.
    """
    b, _, h, w = x.shape
    cell = min(h, w) // grid
    if not 1 <= tile_size <= cell:
        raise ValueError(f"tile_size must be in [1, {cell}] for {grid}x{grid} cells of a {h}x{w} image, got {tile_size}")
    n, slack = grid * grid, cell - tile_size
    if jitter:
        off = torch.randint(0, slack + 1, (2, b, n), device=x.device)  # (2, B, T): row and column offsets
    else:
        off = torch.full((2, b, n), slack // 2, device=x.device)
    cells = torch.arange(n, device=x.device)
    margin_r, margin_c = (h - grid * cell) // 2, (w - grid * cell) // 2
    top = margin_r + (cells // grid) * cell + off[0]  # (B, T)
    left = margin_c + (cells % grid) * cell + off[1]
    step = torch.arange(tile_size, device=x.device)
    rows = (top[..., None] + step)[..., :, None]  # (B, T, t, 1)
    cols = (left[..., None] + step)[..., None, :]  # (B, T, 1, t)
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    tiles = x.permute(0, 2, 3, 1)[batch, rows, cols]  # (B, T, t, t, C)
    return tiles.permute(0, 1, 4, 2, 3).contiguous()


def normalize_tiles(tiles: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Zero mean, unit std per tile over its channels and pixels (against low-level statistics shortcuts)."""
    dims = tuple(range(2, tiles.ndim))
    mean = tiles.mean(dim=dims, keepdim=True)
    std = tiles.std(dim=dims, keepdim=True)
    return (tiles - mean) / (std + eps)


def make_jigsaw(
    x: torch.Tensor, perms: torch.Tensor, grid: int = 3, tile_size: int | None = None, jitter: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """A shuffled, per-tile normalised puzzle per image and the index of its permutation.

    Args:
        x: images (B, C, H, W).
        perms: the permutation set (P, grid * grid), e.g. from `hamming_permutations`.
        grid: tiles per side.
        tile_size: side of a tile (default: 85% of the cell side, as 64/75 in the paper).
        jitter: random tile offsets inside their cells.

    Returns:
        tiles (B, T, C, t, t) in permuted order and labels (B,) indexing `perms`.
    """
    if perms.ndim != 2 or perms.shape[1] != grid * grid:
        raise ValueError(f"perms must be (P, {grid * grid}) for a {grid}x{grid} grid, got {tuple(perms.shape)}")
    if tile_size is None:
        tile_size = max(1, int(0.85 * (min(x.shape[-2:]) // grid)))
    tiles = normalize_tiles(cut_tiles(x, grid, tile_size, jitter))
    labels = torch.randint(0, perms.shape[0], (x.shape[0],), device=x.device)
    return permute_tiles(tiles, perms, labels), labels


# ----------------------------------------------------------------------------------------------- masking
def random_patch_split(batch_size: int, num_patches: int, ratio: float,
                       device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample uniform random split into `round(ratio * num_patches)` hidden and the rest visible patches.

    Returns:
        mask (B, N), bool, True where a patch is hidden (MAE's random sampling, He et al. 2021, Sec. 3), and the
        visible patches' indices (B, N_vis) in increasing patch order: for gathers, with no boolean indexing.
    """
    num_masked = round(ratio * num_patches)
    if not 0 < num_masked < num_patches:
        raise ValueError(f"ratio={ratio} masks {num_masked} of {num_patches} patches; need at least one masked and one visible")
    order = torch.rand(batch_size, num_patches, device=device).argsort(dim=1)  # (B, N) random ranking
    mask = torch.zeros(batch_size, num_patches, dtype=torch.bool, device=device)
    keep = order[:, num_masked:].sort(dim=1).values  # (B, N_vis)
    return mask.scatter_(1, order[:, :num_masked], True), keep


def random_patch_mask(batch_size: int, num_patches: int, ratio: float, device: torch.device | str | None = None) -> torch.Tensor:
    """The mask (B, N) of `random_patch_split`: exactly `round(ratio * num_patches)` hidden patches per image."""
    return random_patch_split(batch_size, num_patches, ratio, device)[0]


def center_patch_mask(batch_size: int, grid: int, fraction: float = 0.5, device: torch.device | str | None = None) -> torch.Tensor:
    """Mask the central square of `fraction` of the grid side (Pathak et al. 2016's central region; 1/4 area).

    Returns:
        mask (B, grid * grid), bool, True where a patch is hidden.
    """
    side = max(1, min(grid - 1, round(fraction * grid)))
    start = (grid - side) // 2
    square = torch.zeros(grid, grid, dtype=torch.bool, device=device)
    square[start : start + side, start : start + side] = True
    return square.flatten().expand(batch_size, -1).clone()


def patchify(x: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Images (B, C, H, W) -> patches (B, N, p * p * C) in row-major order (pixels then channels, as MAE)."""
    b, c, h, w = x.shape
    p = patch_size
    if h % p or w % p:
        raise ValueError(f"image size {h}x{w} is not a multiple of patch_size={p}")
    x = x.reshape(b, c, h // p, p, w // p, p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(patches: torch.Tensor, patch_size: int, channels: int, height: int, width: int) -> torch.Tensor:
    """Inverse of `patchify`: patches (B, N, p * p * C) -> images (B, C, H, W)."""
    b, p = patches.shape[0], patch_size
    x = patches.reshape(b, height // p, width // p, p, p, channels)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(b, channels, height, width)


def mask_to_pixels(mask: torch.Tensor, patch_size: int, height: int, width: int) -> torch.Tensor:
    """Patch mask (B, N) -> pixel mask (B, 1, H, W) with the same True/False per patch."""
    grid = mask.reshape(mask.shape[0], 1, height // patch_size, width // patch_size)
    return grid.repeat_interleave(patch_size, dim=2).repeat_interleave(patch_size, dim=3)
