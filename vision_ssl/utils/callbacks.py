"""Small Lightning callbacks shared by the demo and the benchmarks."""

from __future__ import annotations

import time
from typing import Any

import lightning as L


class Throughput(L.Callback):
    """Counts training images and the seconds spent inside training epochs (validation excluded)."""

    def __init__(self) -> None:
        self.images, self.seconds, self._start = 0, 0.0, 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.images += batch[1].shape[0]

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.seconds += time.perf_counter() - self._start

    @property
    def images_per_second(self) -> float:
        return self.images / max(self.seconds, 1e-9)
