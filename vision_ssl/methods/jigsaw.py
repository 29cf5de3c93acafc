"""Jigsaw puzzles (Noroozi & Favaro 2016, "Unsupervised Learning of Visual Representations by Solving Jigsaw
Puzzles", arXiv:1603.09246).

Each image is cut into a `grid` x `grid` puzzle of tiles, each taken at a random offset inside its cell so
that a gap separates neighbours (no edge or texture continuity to match), normalised on its own (no
low-level statistics to match) and, with some probability, from a grayscale image (no chromatic aberration
to match). The tiles are shuffled by one permutation of a fixed set chosen for maximal Hamming distance;
the same backbone encodes every tile (shared weights, the paper's context-free network), a shared layer maps
each tile to a code, the codes are concatenated in shuffled order, and a classifier predicts which
permutation was used, with cross-entropy.

The evaluated encoder is the same backbone applied to whole images: the online probe gets its features of
the whole (lightly augmented) view, computed without gradient.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vision_ssl.heads.pretext import JigsawHead
from vision_ssl.methods.base import SSLMethod, StepOutput, Views
from vision_ssl.transforms import hamming_permutations, make_jigsaw
from vision_ssl.transforms.recipes import SimCLRViews
from vision_ssl.utils.seeding import seeded


class Jigsaw(SSLMethod):
    """Context-free network: shared tile encoder, concatenated tile codes, permutation classifier.

    Args:
        grid: tiles per side (paper: 3).
        num_perms: size of the permutation set (paper: 100 for its best transfer, 1000 for harder puzzles).
        perm_seed: seed of the deterministic permutation-set selection.
        tile_size: tile side in pixels (default: 85% of the cell side, 64/75 in the paper).
        tile_dim: width of the shared per-tile layer (paper: 512).
        hidden_dim: hidden width of the permutation classifier (paper: 4096).
        probe_every: steps between the online probe's extra pass over the clean view (it has no gradient).
        **kwargs: `SSLMethod` arguments; `augment` defaults to crop, flip and grayscale (p = 0.3).
    """

    num_views = 1

    def __init__(
        self,
        grid: int = 3,
        num_perms: int = 100,
        perm_seed: int = 0,
        tile_size: int | None = None,
        tile_dim: int = 512,
        hidden_dim: int = 1024,
        probe_every: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if grid < 2:
            raise ValueError(f"grid must be >= 2, got {grid}")
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "augment"])
        if probe_every < 1:
            raise ValueError(f"probe_every must be >= 1, got {probe_every}")
        self.perms: torch.Tensor  # (num_perms, grid grid), a buffer
        self.register_buffer("perms", hamming_permutations(num_perms, grid * grid, perm_seed), persistent=False)
        self.head = JigsawHead(self.num_features, grid * grid, num_perms, tile_dim, hidden_dim)

    def default_augment(self) -> nn.Module:
        return SimCLRViews(num_views=1, crop_scale=(0.6, 1.0), jitter_p=0.0, grayscale_p=0.3)

    def make_views(self, images: torch.Tensor) -> Views:
        """The whole view (B, C, H, W), with shuffled tiles (B, T, C, t, t) and permutation labels (B,) as extras."""
        x = super().make_views(images).images[0]
        tiles, perm = make_jigsaw(x, self.perms, self.hparams.grid, self.hparams.tile_size)
        return Views([x], {"tiles": tiles, "perm": perm})

    def pretext(self, tiles: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss and accuracy of the permutation classifier on puzzles (B, T, C, t, t)."""
        h = self.backbone(tiles.flatten(0, 1))  # (B T, F): one shared encoder for every tile
        logits = self.head(h)  # (B, P)
        return F.cross_entropy(logits, labels), (logits.argmax(1) == labels).float().mean()

    def ssl_step(self, views: Views, labels: torch.Tensor) -> StepOutput:
        loss, acc = self.pretext(views.extra["tiles"], views.extra["perm"])
        return StepOutput(loss, self.occasional_features(views.images[0], self.hparams.probe_every), {"pretext_top1": acc})

    def validation_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        out = super().validation_step(batch, batch_idx)
        images, labels = batch
        with seeded(batch_idx, images.device):  # the same puzzles every epoch
            tiles, perm_labels = make_jigsaw(images, self.perms, self.hparams.grid, self.hparams.tile_size, jitter=False)
        _, acc = self.pretext(tiles, perm_labels)
        self.log("val/pretext_top1", acc, batch_size=labels.shape[0], sync_dist=True)
        return out
