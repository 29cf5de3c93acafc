"""Validation-time monitors used by `SSLMethod`: a kNN accuracy and collapse statistics, each validation epoch.

`val/knn_top1` classifies the clean validation images by `knn_predict` against a bank of the most recent
training features (detached backbone features of the first view, collected during the training steps, so no
extra pass over the training set). Those features come from augmented views and a moving encoder, so this is
a cheap trend monitor; the number to report is the offline `vision-ssl knn` on frozen, clean features.

`val/rankme`, `val/embedding_std`, `val/uniformity` and `val/alignment` (clean view vs one augmented view of
the same validation images) come from `vision_ssl.eval.collapse`; a warning is emitted when they show collapse.
"""

from __future__ import annotations

import torch

from vision_ssl.eval.collapse import collapse_stats, warn_if_collapsed
from vision_ssl.eval.knn import knn_predict


class ValidationMonitor:
    """Holds the training-feature bank and the validation features of the current epoch (not checkpointed).

    Args:
        num_classes: classes of the kNN vote.
        bank_size: most recent training features kept (a ring buffer).
        max_val: validation features kept per epoch (for kNN and the collapse statistics).
        k: kNN neighbours.
        temperature: kNN vote temperature.
    """

    def __init__(self, num_classes: int, bank_size: int = 8192, max_val: int = 4096, k: int = 200,
                 temperature: float = 0.07) -> None:
        self.num_classes, self.bank_size, self.max_val = num_classes, bank_size, max_val
        self.k, self.temperature = k, temperature
        self.bank: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.val: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = []

    def add_train(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Push labelled training features (B, F) into the bank, dropping the oldest beyond `bank_size`."""
        keep = labels >= 0
        self.bank.append((features.detach()[keep].float(), labels[keep]))
        while sum(len(f) for f, _ in self.bank) - len(self.bank[0][0]) >= self.bank_size:
            self.bank.pop(0)

    def add_val(self, features: torch.Tensor, labels: torch.Tensor, pair: torch.Tensor | None = None) -> None:
        """Keep validation features (B, F), labels and optionally features of an augmented view of the same images."""
        if not self.val_full:
            self.val.append((features.detach().float(), labels, None if pair is None else pair.detach().float()))

    @property
    def val_full(self) -> bool:
        return sum(len(f) for f, _, _ in self.val) >= self.max_val

    @torch.no_grad()
    def augmented_features(self, model: torch.nn.Module, images: torch.Tensor, seed: int) -> torch.Tensor | None:
        """Backbone features of one seeded augmented view of normalised images (None if not RGB or store full)."""
        if images.shape[1] != 3 or self.val_full:
            return None
        with torch.random.fork_rng(devices=[images.device] if images.is_cuda else []):
            torch.manual_seed(seed)
            return model.backbone(model.augment(model.normalize.invert(images)))

    def compute(self, where: str = "") -> dict[str, float]:
        """kNN top-1 (when the bank is not empty) and collapse statistics of this epoch; resets the val store."""
        if not self.val:
            return {}
        z = torch.cat([f for f, _, _ in self.val])[: self.max_val]
        y = torch.cat([y for _, y, _ in self.val])[: self.max_val]
        pairs = [p for _, _, p in self.val]
        pair = torch.cat(pairs)[: self.max_val] if all(p is not None for p in pairs) else None
        self.val = []
        stats = collapse_stats(z, pair)
        warn_if_collapsed(stats, z.shape[1], where)
        keep = y >= 0
        if self.bank and keep.any():
            bank_x = torch.cat([f for f, _ in self.bank])[-self.bank_size :]
            bank_y = torch.cat([y for _, y in self.bank])[-self.bank_size :]
            pred = knn_predict(bank_x, bank_y, z[keep], self.num_classes, self.k, self.temperature)
            stats["knn_top1"] = (pred == y[keep].cpu()).float().mean().item()
        return stats
