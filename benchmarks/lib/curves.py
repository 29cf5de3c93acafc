"""kNN accuracy while training: the per-epoch curve of the accuracy benchmark, as a callback that `vision-ssl fit`
takes in `--trainer.callbacks` and whose state is part of `last.ckpt` (a resumed run keeps its curve)."""

from __future__ import annotations

import statistics
from types import SimpleNamespace
from typing import Any

import lightning as L
import torch
from torch.utils.data import Subset

from vision_ssl.eval import extract_features, knn_top1
from vision_ssl.utils.callbacks import Throughput


def knn_val(backbone: torch.nn.Module, normalize: torch.nn.Module, dm: Any) -> float:
    """kNN (k = 200, T = 0.07) top-1 on `dm.val_set` with `dm.train_set` as the bank."""
    tr = extract_features(backbone, normalize, dm.train_set)
    va = extract_features(backbone, normalize, dm.val_set)
    return knn_top1(*tr, *va, dm.num_classes)


def curve_data(dm: Any, bank: int) -> Any:
    """What the curve's kNN reads: a seeded `bank`-image subset of the train split (0: all) and the val split."""
    train = dm.train_set
    if 0 < bank < len(train):
        idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:bank].sort().values
        train = Subset(train, idx.tolist())
    return SimpleNamespace(train_set=train, val_set=dm.val_set, num_classes=dm.num_classes)


class CurveKNN(Throughput):
    """kNN val top-1 of the backbone before training and after every epoch, training images/s, and the wall time
    of every training epoch (kNN pass excluded).

    Args:
        bank: train images the kNN votes with (a seeded subset; 0: the whole train split).
    """

    def __init__(self, bank: int = 10000) -> None:
        super().__init__()
        self.bank = bank
        self.curve: list[float] = []
        self.epoch_seconds: list[float] = []
        self._data: Any = None

    def _cdm(self, trainer: L.Trainer) -> Any:
        if self._data is None:
            self._data = curve_data(trainer.datamodule, self.bank)
        return self._data

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.curve:  # epoch 0: the initial weights (a resumed run has read its curve back already)
            self.curve.append(knn_val(pl_module.backbone, pl_module.normalize, self._cdm(trainer)))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        before = self.seconds
        super().on_train_epoch_end(trainer, pl_module)  # stop the clock before the kNN pass
        self.epoch_seconds.append(self.seconds - before)
        self.curve.append(knn_val(pl_module.backbone, pl_module.normalize, self._cdm(trainer)))
        print(f"  epoch {len(self.epoch_seconds)}: {self.epoch_seconds[-1]:.0f}s, kNN val (curve bank) "
              f"{self.curve[-1]:.4f}", flush=True)

    def state_dict(self) -> dict[str, Any]:
        return {"curve": self.curve, "images": self.images, "seconds": self.seconds, "epoch_seconds": self.epoch_seconds}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.curve, self.images = list(state_dict["curve"]), state_dict["images"]
        self.seconds, self.epoch_seconds = state_dict["seconds"], list(state_dict["epoch_seconds"])


def mean_std(values: list[float]) -> str:
    """`mean ± std` in percent (the value alone for one seed)."""
    if len(values) < 2:
        return f"{100 * values[0]:.1f}"
    return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}"


def plot(records: list[dict[str, Any]], rows: list[str], path: Any, title: str) -> None:
    """kNN val top-1 per epoch, mean over seeds, one line per row (untrained rows: a dashed horizontal line)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, name in enumerate(rows):
        curves = [r["curve"] for r in records if r["method"] == name and r["curve"]]
        if not curves:
            continue
        mean = [statistics.mean(c[i] for c in curves) for i in range(min(map(len, curves)))]
        if len(mean) == 1:
            ax.axhline(100 * mean[0], ls="--", lw=1, color="gray", label=name)
        else:
            ax.plot(range(len(mean)), [100 * m for m in mean], marker="o" if i < 10 else "s", ms=3,
                    ls="-" if i < 10 else "--", label=name)  # 10 colours, then dashed
    ax.set_xlabel("epoch")
    ax.set_ylabel("kNN val top-1 (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
