"""Progress lines of the video studies' training runs."""

from __future__ import annotations

import lightning as L


class Progress(L.Callback):
    def __init__(self, name: str) -> None:
        self.name = name

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: object) -> None:
        if trainer.global_step % 250 == 0:
            logs = {k: round(float(v), 4) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
            print(f"  {self.name} step {trainer.global_step}: {logs}", flush=True)
