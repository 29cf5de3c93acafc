"""Progress lines of the video studies' training runs."""

from __future__ import annotations

import argparse

import lightning as L


class Progress(L.Callback):
    def __init__(self, name: str) -> None:
        self.name = name

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: object) -> None:
        if trainer.global_step % 250 == 0:
            logs = {k: round(float(v), 4) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
            print(f"  {self.name} step {trainer.global_step}: {logs}", flush=True)


def add_moving_mnist_args(parser: argparse.ArgumentParser) -> None:
    """The Stochastic Moving MNIST options both video studies take (data root, frame size, digits, clip length)."""
    parser.add_argument("--root", default="data")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--digits", type=int, default=2)
    parser.add_argument("--context", type=int, default=5)
    parser.add_argument("--future", type=int, default=10)
