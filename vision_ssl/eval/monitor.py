"""`ValidationMonitor`: a Lightning callback that logs a kNN accuracy and collapse statistics every validation epoch.

`val/knn_top1` classifies the clean validation images by `knn_predict` against a bank of the most recent
training features (the detached probe features a method's training step returns, so no extra pass over the
training set). Those features come from augmented views and a moving encoder, so this is a cheap trend monitor;
the number to report is the offline `vision-ssl knn` on frozen, clean features.

`val/rankme`, `val/embedding_std`, `val/uniformity` and `val/alignment` (clean view vs one seeded augmented view
of the same validation images) come from `vision_ssl.metrics.collapse`; a warning is emitted when they show
collapse, and non-finite validation features stop the run with the non-finite message.

With `eval_data`, a labelled data module given apart from the (possibly unlabelled) pretraining data, every
validation epoch also extracts clean features of its train and val splits with the backbone in eval mode and logs
the kNN top-1 and the top-1 of a linear classifier fitted on them: as `val/knn_top1` and `val/probe_top1` when the
method has no online probe (unlabelled pretraining data; these keys can then select checkpoints), else as
`val/eval_knn_top1` and `val/eval_probe_top1`. Run it every N epochs with `trainer.check_val_every_n_epoch: N`.

    vision-ssl fit -c configs/demo.yaml --data UnlabeledFolderDataModule --data.root photos \
        --monitor.eval_data FashionMNISTDataModule --monitor.eval_data.root data

`vision-ssl fit` adds it to every run (`vision_ssl.cli`); add it to a hand-built Trainer with
`callbacks=[ValidationMonitor()]`.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities.rank_zero import rank_zero_info

from vision_ssl.data.base import ImageDataModule
from vision_ssl.eval.features import extract_features
from vision_ssl.eval.linear_probe import probe_features
from vision_ssl.methods.base import SSLMethod
from vision_ssl.methods.checks import nonfinite_error
from vision_ssl.metrics.collapse import collapse_stats, warn_if_collapsed
from vision_ssl.metrics.knn import knn_predict, knn_top1
from vision_ssl.utils.queue import FeatureQueue
from vision_ssl.utils.seeding import seeded


class ValidationMonitor(L.Callback):
    """kNN and collapse monitors of an `SSLMethod` (other modules are left alone).

    Args:
        bank_size: most recent training features kept (a FIFO queue on the device, written in place).
        max_val: validation images used per epoch (for kNN and the collapse statistics).
        k: kNN neighbours.
        temperature: kNN vote temperature.
        eval_data: a labelled data module watched every validation epoch (its images are brought to the model's
            image size and channels); None: none.
        eval_max_train: images of `eval_data`'s train split used as the kNN bank and probe training set (seeded).
        probe_epochs: epochs of the linear classifier fitted on `eval_data`'s features.
    """

    def __init__(self, bank_size: int = 8192, max_val: int = 4096, k: int = 200, temperature: float = 0.07,
                 eval_data: ImageDataModule | None = None, eval_max_train: int = 5000, probe_epochs: int = 30) -> None:
        if bank_size < 1 or max_val < 2 or k < 1 or temperature <= 0 or eval_max_train < 2 or probe_epochs < 1:
            raise ValueError(f"need bank_size >= 1, max_val >= 2, k >= 1, temperature > 0, eval_max_train >= 2, "
                             f"probe_epochs >= 1; got {bank_size}, {max_val}, {k}, {temperature}, {eval_max_train}, "
                             f"{probe_epochs}")
        if eval_data is not None and eval_data.num_classes < 2:
            raise ValueError(f"monitor.eval_data must be labelled (>= 2 classes); {type(eval_data).__name__} has "
                             f"num_classes={eval_data.num_classes}")
        self.bank_size, self.max_val, self.k, self.temperature = bank_size, max_val, k, temperature
        self.eval_data, self.eval_max_train, self.probe_epochs = eval_data, eval_max_train, probe_epochs
        self.bank: FeatureQueue | None = None
        self.val: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = []

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if not isinstance(pl_module, SSLMethod) or not isinstance(outputs, dict) or outputs.get("features") is None:
            return
        self.add_train(outputs["features"], outputs["labels"])

    def add_train(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Push training features (B, F) and labels into the bank; unlabelled ones (-1) are dropped at compute
        time, so this makes no host sync."""
        if self.bank is None:
            self.bank = FeatureQueue(self.bank_size, features.shape[1], init="zeros", with_labels=True).to(features.device)
        self.bank.push(features.detach().float(), labels, gather=False)

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if not isinstance(pl_module, SSLMethod) or not isinstance(outputs, dict) or self.val_full:
            return
        self.add_val(outputs["features"], outputs["labels"], self.augmented_features(pl_module, batch[0], batch_idx))

    def add_val(self, features: torch.Tensor, labels: torch.Tensor, pair: torch.Tensor | None = None) -> None:
        """Keep validation features (B, F), labels and optionally features of an augmented view of the same images."""
        if not self.val_full:
            self.val.append((features.detach().float(), labels, None if pair is None else pair.detach().float()))

    @property
    def val_full(self) -> bool:
        return sum(len(f) for f, _, _ in self.val) >= self.max_val

    @staticmethod
    @torch.no_grad()
    def augmented_features(model: SSLMethod, images: torch.Tensor, seed: int) -> torch.Tensor | None:
        """Backbone features of one seeded augmented view of normalised RGB images (None for other inputs)."""
        if images.shape[1] != 3:
            return None
        with seeded(seed, images.device):
            view = model.augment(model.normalize.invert(images))[0]
        if view.shape[-2:] != images.shape[-2:]:
            return None
        return model.backbone(model.normalize(view))

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not isinstance(pl_module, SSLMethod) or trainer.sanity_checking:
            self.val = []
            return
        for key, value in self.compute(pl_module.hparams.num_classes, f"at epoch {pl_module.current_epoch}").items():
            pl_module.log(f"val/{key}", value, sync_dist=True)
        if self.eval_data is not None:
            prefix = "val/" if pl_module.probe is None else "val/eval_"
            for key, value in self.evaluate(pl_module).items():
                pl_module.log(prefix + key, value, sync_dist=True)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Bring `eval_data` to the model's image size and channels, then load its splits."""
        if self.eval_data is None or not isinstance(pl_module, SSLMethod):
            return
        dm, hp = self.eval_data, pl_module.hparams
        if (dm.image_size, dm.channels) != (hp.image_size, hp.in_chans):
            rank_zero_info(f"vision-ssl: monitor.eval_data images are brought to the model's {hp.image_size} px and "
                           f"{hp.in_chans} channel(s) (given: {dm.image_size} px, {dm.channels})")
            dm.image_size, dm.channels = hp.image_size, hp.in_chans
        dm.max_train_samples = min(dm.max_train_samples or self.eval_max_train, self.eval_max_train)
        dm.setup("fit")

    @torch.no_grad()
    def evaluate(self, model: SSLMethod) -> dict[str, float]:
        """kNN and linear-probe top-1 of the backbone's clean features (eval mode) on `eval_data`'s val split."""
        dm = self.eval_data
        assert dm is not None and dm.train_set is not None and dm.val_set is not None
        feats = {split: extract_features(model.backbone, model.normalize, data, dm.batch_size, model.device)
                 for split, data in (("train", dm.train_set), ("val", dm.val_set))}
        (tr_x, tr_y), (va_x, va_y) = feats["train"], feats["val"]
        with torch.enable_grad(), torch.random.fork_rng(devices=[]):
            probe = probe_features(feats, dm.num_classes, lrs=(1e-2,), epochs=self.probe_epochs)
        knn = knn_top1(tr_x, tr_y, va_x, va_y, dm.num_classes, self.k, self.temperature)
        return {"knn_top1": float(knn), "probe_top1": float(probe["val_top1"])}

    def compute(self, num_classes: int, where: str = "") -> dict[str, float]:
        """kNN top-1 (when the bank has labelled features) and collapse statistics; resets the validation store."""
        if not self.val:
            return {}
        z = torch.cat([f for f, _, _ in self.val])[: self.max_val]
        y = torch.cat([y for _, y, _ in self.val])[: self.max_val]
        pairs = [p for _, _, p in self.val if p is not None]
        pair = torch.cat(pairs)[: self.max_val] if len(pairs) == len(self.val) else None
        self.val = []
        if not torch.isfinite(z).all():
            raise nonfinite_error(f"non-finite validation features {where}".strip())
        stats = collapse_stats(z, pair)
        warn_if_collapsed(stats, z.shape[1], where)
        keep = y >= 0
        if self.bank is not None and keep.any():
            n = int(self.bank.count)
            bank_x, bank_y = self.bank.features[:n], self.bank.labels[:n]
            labelled = bank_y >= 0
            if labelled.any():
                pred = knn_predict(bank_x[labelled], bank_y[labelled], z[keep], num_classes, self.k,
                                   self.temperature)
                stats["knn_top1"] = (pred == y[keep].cpu()).float().mean().item()
        return stats

