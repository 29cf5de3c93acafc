"""Training and scoring of one (method, seed) of the full-budget benchmark (`benchmarks/full_budget.py`).

Training goes through the real path: the registered method class with the CPU recipe of `build_method`
(tests/helpers.py, shared with the learning tests and benchmarks/accuracy.py) and a Lightning Trainer whose one
`last.ckpt` (`vision_ssl.utils.checkpoint.LastCheckpoint`, written atomically) is saved after every epoch, so a
killed run continues mid-run through `Trainer.fit(ckpt_path=...)`. The kNN-per-epoch curve and the per-epoch wall
times live in a callback whose state is part of that checkpoint.

Scores, on frozen un-augmented features of the test split: a linear probe (`probe_features`, lr chosen on val), kNN
(k = 200, T = 0.07, `knn_top1`) and top-1 after fine-tuning on 10 % of the training labels
(`vision_ssl.eval.finetune.finetune`, per-class seeded subset, test split once) at the backbone lr scale (0.1 or 1
× the head's) with the better val top-1.
"""

from __future__ import annotations

import os
import time
from types import SimpleNamespace
from typing import Any

import lightning as L
import torch
from accuracy import EpochKNN
from torch.utils.data import Subset

from vision_ssl.eval import extract_splits, knn_top1, probe_features
from vision_ssl.eval.finetune import finetune
from vision_ssl.utils.checkpoint import AtomicCheckpointIO, LastCheckpoint, load_checkpoint


class CurveKNN(EpochKNN):
    """EpochKNN (kNN val top-1 after every epoch, training images and seconds) whose state survives a restart,
    plus the wall time of every training epoch (kNN pass excluded)."""

    def __init__(self, dm: Any) -> None:
        super().__init__(dm)
        self.epoch_seconds: list[float] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        before = self.seconds
        super().on_train_epoch_end(trainer, pl_module)
        self.epoch_seconds.append(self.seconds - before)
        print(f"  epoch {len(self.epoch_seconds)}: {self.epoch_seconds[-1]:.0f}s, kNN val (curve bank) "
              f"{self.curve[-1]:.4f}", flush=True)

    def state_dict(self) -> dict[str, Any]:
        return {"curve": self.curve, "images": self.images, "seconds": self.seconds, "epoch_seconds": self.epoch_seconds}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.curve, self.images = list(state_dict["curve"]), state_dict["images"]
        self.seconds, self.epoch_seconds = state_dict["seconds"], list(state_dict["epoch_seconds"])


class EpochLastCheckpoint(LastCheckpoint):
    """`last.ckpt` after every training epoch as well as at the end. Lightning 2.6's epoch-end hook writes "last"
    only in a step that also wrote a top-k file, which `save_top_k=0` never does, so it is called directly."""

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


def curve_data(dm: Any, bank: int) -> Any:
    """What the curve's kNN reads: a seeded `bank`-image subset of the train split (0: all) and the val split."""
    train = dm.train_set
    if 0 < bank < len(train):
        idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:bank].sort().values
        train = Subset(train, idx.tolist())
    return SimpleNamespace(train_set=train, val_set=dm.val_set, num_classes=dm.num_classes)


def last_epoch(ckpt: str) -> int | None:
    """Epochs finished by the run that wrote `ckpt` (None when there is no usable file)."""
    if not os.path.isfile(ckpt):
        return None
    try:
        return int(load_checkpoint(ckpt, weights_only=False)["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"])
    except (ValueError, KeyError) as err:
        print(f"  ignoring unusable checkpoint {ckpt}: {err}", flush=True)
        return None


def train(model: L.LightningModule, dm: Any, epochs: int, ckpt_dir: str, curve_bank: int) -> dict[str, Any]:
    """Train `model` for `epochs` on `dm`, resuming from `ckpt_dir/last.ckpt` when a previous run left one.

    Returns:
        `curve` (kNN val top-1 at epoch 0, 1, ...), `epoch_s`, `train_s`, `train_images_per_s`, `resumed_at_epoch`.
    """
    from accuracy import knn_val

    cdm = curve_data(dm, curve_bank)
    ckpt = os.path.join(ckpt_dir, "last.ckpt")
    done = last_epoch(ckpt)
    meter = CurveKNN(cdm)
    if done is None:  # epoch 0: the initial weights (a resumed run reads its curve back from the checkpoint)
        meter.curve.append(knn_val(model.backbone, model.normalize, cdm))
    saver = EpochLastCheckpoint(dirpath=ckpt_dir, save_top_k=0, save_last=True, enable_version_counter=False)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=epochs, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
                        callbacks=[meter, saver], plugins=[AtomicCheckpointIO()])
    if done is not None:
        print(f"  resuming from {ckpt} after epoch {done}", flush=True)
    trainer.fit(model, dm, ckpt_path=ckpt if done is not None else None)
    return {"curve": meter.curve, "epoch_s": meter.epoch_seconds, "train_s": meter.seconds,
            "train_images_per_s": meter.images_per_second, "resumed_at_epoch": done}


def score(backbone: torch.nn.Module, normalize: torch.nn.Module, dm: Any, seed: int, probe_epochs: int,
          finetune_epochs: int, feats: dict[str, Any] | None = None) -> dict[str, Any]:
    """Linear probe, kNN and 10 %-label fine-tune top-1 on the test split (`feats`: cached frozen features)."""
    start = time.perf_counter()
    if feats is None:
        feats = extract_splits(backbone, normalize, dm, test=True)
    probe = probe_features(feats, dm.num_classes, lrs=(1e-3, 3e-3, 1e-2), epochs=probe_epochs, seed=seed)
    knn = knn_top1(*feats["train"], *feats["test"], dm.num_classes)
    out: dict[str, Any] = {"linear_top1": probe["test_top1"], "linear_val_top1": probe["val_top1"], "probe_lr": probe["lr"],
                           "knn_top1": knn, "test_samples": len(feats["test"][1])}
    mid = time.perf_counter()
    out.update(score_finetune(backbone, normalize, dm, seed, finetune_epochs))
    out.update(eval_probe_knn_s=mid - start, eval_finetune_s=time.perf_counter() - mid)
    return out


FINETUNE_SCALES = (0.1, 1.0)  # backbone lr / head lr, chosen on val (benchmarks/results/finetune_lr_scale.md)


def score_finetune(backbone: torch.nn.Module, normalize: torch.nn.Module, dm: Any, seed: int, epochs: int,
                   scales: tuple[float, ...] = FINETUNE_SCALES) -> dict[str, Any]:  # fmt: skip
    """10 %-label fine-tune top-1 on the test split at the backbone lr scale (of `scales`) with the best val top-1;
    every scale's val and test top-1 in `finetune10_by_scale`."""
    if epochs <= 0:
        return {"finetune10_top1": None}
    runs = {scale: finetune(backbone, normalize, dm, epochs=epochs, label_fraction=0.1, seed=seed, test=True,
                            backbone_lr_scale=scale) for scale in scales}  # fmt: skip
    scale = max(runs, key=lambda k: runs[k]["val_top1"])
    ft = runs[scale]
    return {"finetune10_top1": ft["test_top1"], "finetune10_val_top1": ft["val_top1"], "finetune10_images": ft["num_train"],
            "finetune10_backbone_lr_scale": scale,
            "finetune10_by_scale": {str(k): {"val": v["val_top1"], "test": v["test_top1"]} for k, v in runs.items()}}


def limit_test(dm: Any, max_test: int | None) -> None:
    """Keep the first `max_test` test images (smoke runs only; None keeps the 10,000)."""
    dm.setup(None)
    if max_test is not None and max_test < len(dm.test_set):
        dm.test_set = Subset(dm.test_set, list(range(max_test)))
