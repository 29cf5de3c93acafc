"""Per-method throughput for `python -m benchmarks.speed train`: every registered image method trained by Lightning
(augmentation in `on_after_batch_transfer`, online probe and logging included), its data pipeline alone
(loader + `make_views`) and its peak memory.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from benchmarks.lib.timing import PeakMemory, fresh_iterator_windows, median, record
from vision_ssl import recipes
from vision_ssl.data import FashionMNISTDataModule


class BatchClock(Callback):
    """Timestamps at the start of every training batch (after loading, transfer and the views) and at its end
    (after the optimizer step)."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.times: list[float] = []
        self.sizes: list[int] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.starts.append(time.perf_counter())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.times.append(time.perf_counter())
        self.sizes.append(batch[1].shape[0])


def speed_model(name: str, image_size: int, root: str, backbone: str | None = None,
                backbone_kwargs: dict[str, Any] | None = None, cifar_stem: bool = False) -> Any:
    """Method `name` from its published recipe (configs/<name>_fashion_mnist.yaml) at `image_size`, on `backbone`
    instead of the recipe's `tiny` net when given (a speed measurement's backbone; the ViT recipes keep theirs)."""
    extra: list[str] = []
    if backbone is not None and recipes.load(name)["model"]["init_args"]["backbone"] == "tiny":
        extra = ["--model.init_args.backbone", backbone, "--model.init_args.backbone_kwargs",
                 json.dumps(backbone_kwargs or {}), "--model.init_args.cifar_stem", str(cifar_stem).lower()]
    model, _ = recipes.instantiate(name, image_size=image_size, root=root, num_workers=0, extra_args=extra)
    return model


def method_records(args: argparse.Namespace, save: Any = None) -> list[dict]:
    """Every image method trained by Lightning on the same data: steady windows from batch-end timestamps."""
    out: list[dict] = []
    steps = args.warmup + args.windows * args.steps + 1
    dm = FashionMNISTDataModule(root=args.root, image_size=args.image_size, channels=3, batch_size=args.batch_size,
                                num_workers=args.workers, max_train_samples=max(steps * args.batch_size, 2 * args.batch_size))
    dm.setup("fit")
    for name in args.methods:
        L.seed_everything(0, verbose=False)
        model = speed_model(name, args.image_size, args.root, args.backbone, args.backbone_kwargs, args.cifar_stem)
        clock = BatchClock()
        trainer = L.Trainer(accelerator="gpu" if args.device == "cuda" else "cpu", devices=1, max_steps=steps,
                            logger=False, enable_checkpointing=False, enable_progress_bar=False,
                            enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
                            precision="bf16-mixed" if args.bf16 else "32-true", callbacks=[clock])
        with PeakMemory(args.device) as mem:
            trainer.fit(model, dm)
        t, n = clock.times[args.warmup :], clock.sizes[args.warmup :]
        rates = [sum(n[i + 1 : i + 1 + args.steps]) / (t[i + args.steps] - t[i])
                 for i in range(0, len(t) - args.steps, args.steps)]
        model.to(args.device)
        loader = lambda: dm.train_dataloader()  # noqa: E731

        def consume(batch: Any, model: Any = model) -> int:
            with torch.no_grad():
                x = batch[0].to(args.device)
                model.make_views(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x)  # gray repeated on the device
            return batch[0].shape[0]

        data = fresh_iterator_windows({"d": loader}, {"d": consume}, args.warmup, args.windows, args.steps, args.device)["d"]
        out.append(record(f"method/{name}", rates, None, None, backbone=model.hparams.backbone,
                          data_img_per_s=median(data), peak_memory_mib=mem.mib))
        print(f"method/{name}: {median(rates):.0f} img/s train, {median(data):.0f} img/s data", flush=True)
        if save is not None:
            save(out)
    return out
