"""`SSLMethod`: the thin LightningModule every method builds on.

It owns what all methods share and nothing method-specific:
- the backbone (by name, see `vision_ssl.backbones.create_backbone`);
- on-device view augmentation in `on_after_batch_transfer`, seeded from (run seed, rank, step) so views are
  reproducible, independent across ranks, and identical after a resume;
- an online linear probe on detached backbone features, with its own loss and parameter group;
- the optimizer and LR scheduler injected through LightningCLI (default: AdamW with linear warm-up and cosine
  decay sized from `trainer.estimated_stepping_batches`);
- logging under stable keys: `train/loss`, `train/probe_top1`, `val/probe_top1`, `test/probe_top1`;
- validation monitors (`vision_ssl.eval.monitor`): `val/knn_top1`, `val/rankme`, `val/embedding_std`,
  `val/uniformity`, `val/alignment`, with a warning when the embeddings collapse.

A method subclass builds its heads and loss in `__init__` and implements `ssl_step(views)`, returning its loss,
the backbone features of the first view (for the probe) and any extra scalars to log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
import torchmetrics
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn
from torchvision.utils import make_grid

from vision_ssl.backbones import create_backbone
from vision_ssl.eval.monitor import ValidationMonitor
from vision_ssl.methods.checks import (
    check_batch_size,
    check_checkpoint_method,
    check_finite,
    check_image_size,
)
from vision_ssl.transforms import IMAGENET_MEAN, IMAGENET_STD, Normalize, SimCLRAugment
from vision_ssl.utils import distributed
from vision_ssl.utils.schedules import WarmupCosine


class SSLMethod(L.LightningModule):
    """Base of all self-supervised methods.

    Args:
        backbone: backbone name (`tiny`, or any timm model name).
        backbone_kwargs: extra constructor arguments of the backbone (e.g. `{width: 16}` for `tiny`).
        cifar_stem: 3x3 stride-1 stem without max-pool for ResNets on small images.
        num_classes: classes of the online probe (linked from `data.num_classes` by the CLI).
        image_size: side of the augmented views (linked from `data.image_size` by the CLI).
        in_chans: input channels (linked from `data.channels` by the CLI).
        mean: per-channel normalisation mean.
        std: per-channel normalisation std.
        augment: keyword arguments of `SimCLRAugment` other than size/mean/std (e.g. `{blur_p: 0.5}`).
        optimizer: optimizer factory (LightningCLI `class_path`/`init_args`); default AdamW(lr=1e-3, wd=1e-4).
        scheduler: LR scheduler factory; default linear warm-up then cosine, stepped every batch.
        warmup_epochs: warm-up length of the default scheduler, in epochs (fractions allowed).
        probe_lr: learning rate of the online probe's parameter group (default: the optimizer's).
    """

    def __init__(
        self,
        backbone: str = "resnet18",
        backbone_kwargs: dict[str, Any] | None = None,
        cifar_stem: bool = False,
        num_classes: int = 10,
        image_size: int = 32,
        in_chans: int = 3,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        augment: dict[str, Any] | None = None,
        optimizer: OptimizerCallable | None = None,
        scheduler: LRSchedulerCallable | None = None,
        warmup_epochs: float = 10.0,
        probe_lr: float | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if len(mean) != in_chans or len(std) != in_chans:
            raise ValueError(f"mean/std need {in_chans} values (in_chans), got {len(mean)} and {len(std)}")
        if warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs}")
        self.backbone = create_backbone(backbone, cifar_stem=cifar_stem, in_chans=in_chans, **(backbone_kwargs or {}))
        check_image_size(self.backbone, backbone, image_size)
        self.num_features: int = self.backbone.num_features
        self.probe = nn.Linear(self.num_features, num_classes)
        self.normalize = Normalize(None, mean, std)
        try:
            self.augment = SimCLRAugment(image_size, mean=mean, std=std, **(augment or {}))
        except TypeError as err:
            raise ValueError(f"bad model.augment {augment}: {err}") from err
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.train_top1 = torchmetrics.Accuracy("multiclass", num_classes=num_classes, ignore_index=-1)
        self.val_top1 = self.train_top1.clone()
        self.test_top1 = self.train_top1.clone()
        self.monitor = ValidationMonitor(num_classes)  # val/knn_top1 and collapse statistics (vision_ssl.eval)
        # Augmentation RNG state: checkpointed, so a resumed run draws the views an unbroken run would.
        self.register_buffer("aug_seed", torch.tensor(-1, dtype=torch.long))
        self.register_buffer("aug_step", torch.tensor(0, dtype=torch.long))

    # ----------------------------------------------------------------- what a method implements
    num_views: int = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features (B, num_features) of normalised images."""
        return self.backbone(x)

    def make_views(self, images: torch.Tensor) -> list[torch.Tensor]:
        """`num_views` independent augmentations of a uint8 batch (override for asymmetric recipes)."""
        return [self.augment(images) for _ in range(self.num_views)]

    def ssl_step(self, views: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Return (loss, backbone features of views[0], extra scalars to log under train/)."""
        raise NotImplementedError

    # ----------------------------------------------------------------- data on the device
    min_batch_size: int = 2  # per process: pairs to contrast and BatchNorm statistics

    def on_fit_start(self) -> None:
        batch_size = getattr(getattr(self.trainer, "datamodule", None), "batch_size", None)
        if batch_size is not None:
            check_batch_size(batch_size, self.min_batch_size, type(self).__name__)
        if int(self.aug_seed) < 0:  # fresh run: derive from the seed Lightning set (seed_everything)
            self.aug_seed.fill_(torch.initial_seed() % (2**31))

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        images, labels = batch
        if self.trainer is not None and self.trainer.training:
            seed = (int(self.aug_seed) * 1_000_003 + distributed.rank() * 7919 + int(self.aug_step)) % (2**63)
            with torch.random.fork_rng(devices=[images.device] if images.is_cuda else []):
                torch.manual_seed(seed)
                views = self.make_views(images)
            self.aug_step += 1
            return views, labels
        return self.normalize(images), labels

    # ----------------------------------------------------------------- steps
    def probe_loss(self, features: torch.Tensor, labels: torch.Tensor, metric: torchmetrics.Metric) -> torch.Tensor:
        logits = self.probe(features.detach())  # no gradient reaches the backbone
        metric.update(logits, labels)
        if (labels >= 0).any():
            return F.cross_entropy(logits, labels, ignore_index=-1)
        return logits.sum() * 0.0  # an all-unlabelled batch (STL-10 unlabeled): keep the graph, no signal

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        views, labels = batch
        loss, features, logs = self.ssl_step(views)
        check_finite(loss, logs, self.global_step)
        probe_loss = self.probe_loss(features, labels, self.train_top1)
        self.monitor.add_train(features, labels)
        bs = labels.shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        self.log("train/probe_loss", probe_loss, batch_size=bs)
        self.log("train/probe_top1", self.train_top1, on_step=False, on_epoch=True, prog_bar=True, batch_size=bs)
        for key, value in logs.items():
            self.log(f"train/{key}", value, batch_size=bs)
        if batch_idx == 0:
            self.log_views(views)
        return loss + probe_loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        images, labels = batch
        features = self(images)
        self.probe_loss(features, labels, self.val_top1)
        self.log("val/probe_top1", self.val_top1, prog_bar=True, batch_size=labels.shape[0], sync_dist=True)
        self.monitor.add_val(features, labels, self.monitor.augmented_features(self, images, seed=batch_idx))

    def on_validation_epoch_end(self) -> None:
        for key, value in self.monitor.compute(f"at epoch {self.current_epoch}").items():
            self.log(f"val/{key}", value, sync_dist=True)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        images, labels = batch
        self.probe_loss(self(images), labels, self.test_top1)
        self.log("test/probe_top1", self.test_top1, batch_size=labels.shape[0], sync_dist=True)

    def log_views(self, views: list[torch.Tensor], n: int = 8) -> None:
        """A grid of the first `n` images of each view (one row per view) in TensorBoard."""
        if not isinstance(self.logger, TensorBoardLogger) or self.global_rank != 0:
            return
        rows = [self.normalize.invert(v[:n].detach().float()) for v in views if v.ndim == 4]
        if rows:
            grid = make_grid(torch.cat(rows), nrow=min(n, rows[0].shape[0]))
            self.logger.experiment.add_image("train/views", grid, self.current_epoch)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        check_checkpoint_method(checkpoint, type(self))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Record the classes so `vision_ssl.eval.load_run` can rebuild model and data from the file alone."""
        checkpoint["vision_ssl"] = {"method": f"{type(self).__module__}.{type(self).__qualname__}"}
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None:
            checkpoint["vision_ssl"]["datamodule"] = f"{type(dm).__module__}.{type(dm).__qualname__}"
            checkpoint["vision_ssl"]["datamodule_hparams"] = dict(dm.hparams)

    # ----------------------------------------------------------------- optimisation
    def configure_optimizers(self) -> Any:
        probe_ids = {id(p) for p in self.probe.parameters()}
        main = [p for p in self.parameters() if p.requires_grad and id(p) not in probe_ids]
        # The probe: no weight decay, and no LARS trust ratio (it is a plain linear classifier on frozen features).
        probe_group: dict[str, Any] = {"params": list(self.probe.parameters()), "weight_decay": 0.0, "lars": False}
        if self.hparams.probe_lr is not None:
            probe_group["lr"] = self.hparams.probe_lr
        groups = [{"params": main}, probe_group]
        if self.optimizer_factory is None:
            optimizer: torch.optim.Optimizer = torch.optim.AdamW(groups, lr=1e-3, weight_decay=1e-4)
        else:
            optimizer = self.optimizer_factory(groups)
        if self.scheduler_factory is not None:
            scheduler: Any = self.scheduler_factory(optimizer)
        else:
            total = int(self.trainer.estimated_stepping_batches)
            epochs = max(1, self.trainer.max_epochs or 1)
            warmup = min(total, round(self.hparams.warmup_epochs * total / epochs))
            scheduler = WarmupCosine(optimizer, warmup_steps=warmup, total_steps=max(1, total))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
