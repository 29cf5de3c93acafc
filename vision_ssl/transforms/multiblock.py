"""I-JEPA's multi-block masking (Assran et al. 2023, "Self-Supervised Learning from Images with a Joint-Embedding
Predictive Architecture", arXiv:2301.08243, Sec. 3 and Fig. 4), returned as keep-indices.

Per batch, one target-block shape (scale 0.15-0.2 of the patches, aspect ratio h/w 0.75-1.5) and one context
shape (scale 0.85-1.0, unit aspect ratio) are drawn, as in the reference collator. Per image, `num_targets`
target blocks (4) and a context block are placed uniformly at random; the target patches are removed from the
context, so the context never shows what the predictor must predict. Contexts then hold different numbers of
patches; all are cut to the batch's minimum so that the batch stacks without padding (the reference does the
same), or, with `context_length` (I-JEPA passes `fixed_context_length`), to one length for the whole run, so that
a compiled context encoder compiles once. Where this file differs from the reference code, on purpose:
  - the reference keeps the first patches of each context in raster order, which drops the bottom-right of the
    larger contexts; we keep a random subset of that size (still sorted), so no image region is favoured;
  - the reference draws block corners in [0, H - h) and shrinks blocks to at most H - 1 rows, so a block never
    touches the last row or column; we draw corners in [0, H - h] and allow full-height blocks;
  - the reference uses one uniform draw for both the scale and the aspect ratio; we draw them independently;
  - with `context_length`, a context still shorter after the redraws is topped up with random non-target patches.
`layout="reference"` undoes the first three departures (the reference's block shapes, corners and first-patches
cut, as LightlySSL's `IJEPAMaskCollator` also samples them), for comparing with implementations that follow it.
On a small grid this matters: on 7x7 every reference block lies in the top-left 6x6, so 13 of the 49 patches are
never context or target.

The sampler works on the host with a `random.Random` (plain Python on at most a few hundred patch indices per
image, as the reference's data-loader collator): the batch minimum is then a host integer, so the result is two
index tensors copied to the device, with no device-to-host sync in the training step.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch


@dataclass
class MultiBlockMasks:
    """Keep-indices of one batch.

    Attributes:
        context: (B, K_c) long, sorted patch indices (row-major) that the context encoder sees.
        targets: (B, M, K_t) long, sorted patch indices of each of the M target blocks.
    """

    context: torch.Tensor
    targets: torch.Tensor


def _check_range(name: str, value: tuple[float, float], low: float, high: float) -> None:
    if len(value) != 2 or not low < value[0] <= value[1] <= high:
        raise ValueError(f"{name} must be (min, max) with {low} < min <= max <= {high}, got {tuple(value)}")


def block_shape(rng: random.Random, grid: tuple[int, int], scale: tuple[float, float],
                aspect: tuple[float, float]) -> tuple[int, int]:
    """A block (h, w) of about `scale` of the grid's patches and aspect ratio h / w in `aspect`, within the grid."""
    rows, cols = grid
    area = rng.uniform(*scale) * rows * cols
    ratio = rng.uniform(*aspect)
    h = min(rows, max(1, round(math.sqrt(area * ratio))))
    w = min(cols, max(1, round(math.sqrt(area / ratio))))
    return h, w


def reference_block_shape(rng: random.Random, grid: tuple[int, int], scale: tuple[float, float],
                          aspect: tuple[float, float]) -> tuple[int, int]:
    """A block (h, w) drawn as the reference collator draws it: one uniform draw u sets both the scale and the
    aspect ratio, the area is `int(scale * patches)` whole patches, and each side is rounded, then kept below the
    grid's (at most rows - 1 by cols - 1, at least 1)."""
    rows, cols = grid
    u = rng.random()
    area = int((scale[0] + u * (scale[1] - scale[0])) * rows * cols)
    ratio = aspect[0] + u * (aspect[1] - aspect[0])
    h = max(1, min(rows - 1, round(math.sqrt(area * ratio))))
    w = max(1, min(cols - 1, round(math.sqrt(area / ratio))))
    return h, w


def block_indices(top: int, left: int, h: int, w: int, cols: int) -> list[int]:
    """Row-major indices of the patches of the h x w block whose top-left patch is (top, left)."""
    return [(top + i) * cols + left + j for i in range(h) for j in range(w)]


def _place(rng: random.Random, grid: tuple[int, int], shape: tuple[int, int], reference: bool = False) -> list[int]:
    """A block of `shape` at a uniform corner: anywhere it fits, or (reference) with its corner in [0, rows - h) x
    [0, cols - w), so it never reaches the last row or column."""
    (rows, cols), (h, w) = grid, shape
    if reference:
        return block_indices(rng.randrange(max(1, rows - h)), rng.randrange(max(1, cols - w)), h, w, cols)
    return block_indices(rng.randint(0, rows - h), rng.randint(0, cols - w), h, w, cols)


LAYOUTS = ("uniform", "reference")


def multiblock_masks(
    batch_size: int,
    grid: tuple[int, int],
    rng: random.Random | None = None,
    num_targets: int = 4,
    target_scale: tuple[float, float] = (0.15, 0.2),
    target_aspect: tuple[float, float] = (0.75, 1.5),
    context_scale: tuple[float, float] = (0.85, 1.0),
    min_context: int = 4,
    tries: int = 20,
    device: torch.device | str | None = None,
    context_length: int | None = None,
    layout: str = "uniform",
) -> MultiBlockMasks:
    """Context and target keep-indices for a batch on a `grid` (rows, cols) of patches.

    Args:
        batch_size: images in the batch.
        grid: patch rows and columns.
        rng: the host random generator (seed it for reproducible masks); None: a fresh unseeded one.
        num_targets: target blocks per image (paper: 4).
        target_scale: fraction of the patches per target block (paper: 0.15-0.2).
        target_aspect: aspect ratio h / w of the target blocks (paper: 0.75-1.5).
        context_scale: fraction of the patches in the context block before the targets are removed (paper:
            0.85-1.0; unit aspect ratio).
        min_context: an image whose context keeps fewer patches gets its blocks redrawn, up to `tries` times
            (the reference's `min_keep`); the largest context drawn is used after that.
        tries: draws per image before settling for the largest context.
        device: device of the returned tensors.
        context_length: every context keeps exactly this many patches, whatever the batch (`fixed_context_length`
            gives a run's value), so a compiled encoder sees one shape. An image whose context is shorter after
            `tries` draws is topped up with random patches outside its target blocks. None: the batch's minimum.
        layout: `uniform` (ours: blocks anywhere, independent scale and aspect draws, contexts cut to a random
            subset) or `reference` (the reference code's shapes and corners, contexts cut to their first patches
            in raster order); see the module docstring.

    Returns:
        The keep-indices; every context has `context_length` patches, or the batch's minimum size, at least 1.

    Raises:
        ValueError: a bad range or count, or a grid so small that some context is empty.
    """
    rows, cols = grid
    if batch_size < 1 or rows < 1 or cols < 1 or num_targets < 1 or tries < 1:
        raise ValueError(f"need batch_size, grid, num_targets and tries >= 1, got {batch_size}, {grid}, "
                         f"{num_targets}, {tries}")
    _check_range("target_scale", target_scale, 0.0, 1.0)
    _check_range("context_scale", context_scale, 0.0, 1.0)
    _check_range("target_aspect", target_aspect, 0.0, math.inf)
    if context_length is not None and not 1 <= context_length <= rows * cols:
        raise ValueError(f"context_length must be in [1, {rows * cols}] (the patches of a {rows}x{cols} grid), got "
                         f"{context_length}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got '{layout}'")
    reference = layout == "reference"
    rng = rng or random.Random()
    enough = max(min_context, context_length or 0)
    shape = reference_block_shape if reference else block_shape
    target_shape = shape(rng, grid, target_scale, target_aspect)  # one shape per batch, as the reference
    context_shape = shape(rng, grid, context_scale, (1.0, 1.0))
    contexts, targets = [], []
    for _ in range(batch_size):
        best: tuple[list[int], list[list[int]]] = ([], [])
        for _ in range(tries):
            blocks = [_place(rng, grid, target_shape, reference) for _ in range(num_targets)]
            hidden = set().union(*blocks)
            context = [i for i in _place(rng, grid, context_shape, reference) if i not in hidden]
            if len(context) > len(best[0]):
                best = (context, blocks)
            if len(context) >= enough:
                break
        if context_length is not None and len(best[0]) < context_length:
            best = (_top_up(rng, best[0], best[1], context_length, rows * cols), best[1])
        contexts.append(best[0])
        targets.append(best[1])
    keep = context_length or min(len(c) for c in contexts)
    if keep == 0:
        raise ValueError(f"a {rows}x{cols} patch grid left an empty context after removing {num_targets} target "
                         f"blocks of {target_shape}; use more patches (smaller patch_size) or fewer targets")
    if reference:  # the reference keeps each context's first patches
        contexts = [c[:keep] for c in contexts]
    else:
        contexts = [c if len(c) == keep else sorted(rng.sample(c, keep)) for c in contexts]
    return MultiBlockMasks(torch.tensor(contexts, dtype=torch.long, device=device),
                           torch.tensor(targets, dtype=torch.long, device=device))


def _top_up(rng: random.Random, context: list[int], blocks: list[list[int]], length: int, patches: int) -> list[int]:
    """`context` grown to `length` patches with random ones outside the target `blocks` (never a target patch)."""
    hidden, have = set().union(*blocks), set(context)
    free = [i for i in range(patches) if i not in hidden and i not in have]
    if len(context) + len(free) < length:
        raise ValueError(f"{len(blocks)} target blocks leave {len(context) + len(free)} of {patches} patches, fewer "
                         f"than context_length {length}; lower context_length or use fewer/smaller targets")
    return sorted(context + rng.sample(free, length - len(context)))


def fixed_context_length(grid: tuple[int, int], num_targets: int = 4, target_scale: tuple[float, float] = (0.15, 0.2),
                         target_aspect: tuple[float, float] = (0.75, 1.5),
                         context_scale: tuple[float, float] = (0.85, 1.0), min_context: int = 4,
                         quantile: float = 0.01, draws: int = 1000) -> int:
    """One context length for a whole run: the `quantile` of the context sizes `multiblock_masks` draws.

    Without it, each batch is cut to its own minimum, so the context encoder sees a new sequence length nearly
    every step and a compiled encoder recompiles. The default 1% quantile is about the minimum of a batch of 100
    (the size the reference's batch minimum gives), so few contexts are topped up. Computed from `draws` one-image
    batches under a fixed seed, so it depends on the configuration only.

    Returns:
        The number of context patches, at least `min_context` (where the grid allows) and at least 1.
    """
    if not 0.0 <= quantile < 1.0 or draws < 1:
        raise ValueError(f"need 0 <= quantile < 1 and draws >= 1, got {quantile} and {draws}")
    rng = random.Random(0)
    sizes = sorted(multiblock_masks(1, grid, rng, num_targets, target_scale, target_aspect, context_scale,
                                    min_context).context.shape[1] for _ in range(draws))
    return max(sizes[int(quantile * draws)], min(min_context, sizes[-1]))
