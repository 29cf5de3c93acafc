"""Timing probe run by `step_before_after.py` inside one source tree; prints one JSON line.

Uses only what old and new trees share: method constructors with default recipes, FashionMNISTDataModule and a
Lightning Trainer (with the new tree's ValidationMonitor callback when it exists, as `vision-ssl fit` adds it).
"""

from __future__ import annotations

import argparse
import json
import time

import lightning as L
import torch

import vision_ssl
from vision_ssl.data import FashionMNISTDataModule
from vision_ssl.registry import METHODS, resolve

EXTRA = {"mocov2": dict(queue_size=1024, proj_hidden_dim=512, proj_output_dim=128),
         "simclr": dict(proj_hidden_dim=512, proj_output_dim=128),
         "mae": dict(backbone="vit_tiny_patch16_224", backbone_kwargs={"patch_size": 4, "depth": 6, "img_size": 28},
                     decoder_dim=128, decoder_depth=1, decoder_heads=4)}


class Clock(L.Callback):
    def __init__(self) -> None:
        self.stamps: list[float] = []

    def on_train_batch_end(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.stamps.append(time.perf_counter())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--method", required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=256)
    a = p.parse_args()
    torch.set_num_threads(1)
    L.seed_everything(0, verbose=False)
    dm = FashionMNISTDataModule(root=a.root, image_size=28, channels=3, batch_size=a.batch_size, num_workers=0,
                                max_train_samples=a.batch_size * (a.steps + 2))
    dm.setup("fit")
    t0 = time.perf_counter()
    n = sum(x.shape[0] for x, _ in dm.train_dataloader())
    loader_rate = n / (time.perf_counter() - t0)
    kw = {**dict(backbone="tiny", backbone_kwargs={"width": 16}, image_size=28, num_classes=10), **EXTRA.get(a.method, {})}
    model = resolve(METHODS, a.method, "method")(**kw)
    callbacks: list[L.Callback] = [clock := Clock()]
    try:
        from vision_ssl.eval.monitor import ValidationMonitor

        if issubclass(ValidationMonitor, L.Callback):
            callbacks.append(ValidationMonitor())
    except ImportError:
        pass
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=a.steps, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        limit_val_batches=4, callbacks=callbacks)
    trainer.fit(model, dm)
    steady = clock.stamps[2:]
    train_rate = (len(steady) - 1) * a.batch_size / (steady[-1] - steady[0])
    t0 = time.perf_counter()
    trainer.validate(model, dm, verbose=False)
    val_s = time.perf_counter() - t0
    print(json.dumps({"method": a.method, "loader_img_per_s": loader_rate, "train_img_per_s": train_rate,
                      "val_s": val_s, "val_batches": 4, "batch_size": a.batch_size, "source": vision_ssl.__file__}))


if __name__ == "__main__":
    main()
