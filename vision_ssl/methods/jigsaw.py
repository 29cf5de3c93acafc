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

from vision_ssl.heads.pretext import JigsawHead
from vision_ssl.methods.base import SSLMethod
from vision_ssl.transforms import hamming_permutations, make_jigsaw

LIGHT_AUGMENT = {"crop_scale": [0.6, 1.0], "jitter_p": 0.0, "grayscale_p": 0.3}


class Jigsaw(SSLMethod):
    """Context-free network: shared tile encoder, concatenated tile codes, permutation classifier.

    Args:
        grid: tiles per side (paper: 3).
        num_perms: size of the permutation set (paper: 100 for its best transfer, 1000 for harder puzzles).
        perm_seed: seed of the deterministic permutation-set selection.
        tile_size: tile side in pixels (default: 85% of the cell side, 64/75 in the paper).
        tile_dim: width of the shared per-tile layer (paper: 512).
        hidden_dim: hidden width of the permutation classifier (paper: 4096).
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
        **kwargs: Any,
    ) -> None:
        kwargs["augment"] = {**LIGHT_AUGMENT, **(kwargs.get("augment") or {})}
        super().__init__(**kwargs)
        if grid < 2:
            raise ValueError(f"grid must be >= 2, got {grid}")
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.register_buffer("perms", hamming_permutations(num_perms, grid * grid, perm_seed), persistent=False)
        self.head = JigsawHead(self.num_features, grid * grid, num_perms, tile_dim, hidden_dim)

    def make_views(self, images: torch.Tensor) -> list[torch.Tensor]:
        """[whole view (B, C, H, W), shuffled tiles (B, T, C, t, t), permutation labels (B,)]."""
        x = self.augment(images)
        tiles, labels = make_jigsaw(x, self.perms, self.hparams.grid, self.hparams.tile_size)
        return [x, tiles, labels]

    def pretext(self, tiles: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss and accuracy of the permutation classifier on puzzles (B, T, C, t, t)."""
        h = self.backbone(tiles.flatten(0, 1))  # (B T, F): one shared encoder for every tile
        logits = self.head(h)  # (B, P)
        return F.cross_entropy(logits, labels), (logits.argmax(1) == labels).float().mean()

    def ssl_step(self, views: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        x, tiles, labels = views
        loss, acc = self.pretext(tiles, labels)
        with torch.no_grad():
            features = self.backbone(x)  # (B, F) whole images: what the probe and downstream tasks see
        return loss, features, {"pretext_top1": acc}

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        super().validation_step(batch, batch_idx)
        images, labels = batch
        with torch.random.fork_rng(devices=[images.device] if images.is_cuda else []):
            torch.manual_seed(batch_idx)  # the same puzzles every epoch
            tiles, perm_labels = make_jigsaw(images, self.perms, self.hparams.grid, self.hparams.tile_size, jitter=False)
        _, acc = self.pretext(tiles, perm_labels)
        self.log("val/pretext_top1", acc, batch_size=labels.shape[0], sync_dist=True)
