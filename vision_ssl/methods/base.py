"""`SSLMethod`: the thin LightningModule every image method builds on; a method implements
`ssl_step(views, labels) -> StepOutput` (vision_ssl/methods/step.py) and builds its heads and loss.

The base owns what all methods share: the backbone; on-device views (gray expanded after transfer, then the view
recipe under a seed from (run seed, rank, step): reproducible, independent across ranks, identical on resume);
the online probe on detached features; the injected optimizer and schedule; logging under stable keys; and a
non-finite check without host syncs (read every `finite_check_every` steps and before every checkpoint, so the
last checkpoint on disk is finite). The kNN and collapse monitors are the `ValidationMonitor` callback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
import torchmetrics
from lightning.fabric.utilities.data import AttributeDict
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from vision_ssl.backbones import create_backbone, num_features_of
from vision_ssl.methods.checks import (
    NonFiniteWatch,
    check_batch_size,
    check_checkpoint_method,
    check_data_labels,
    check_image_size,
    check_num_classes,
    check_recipe,
    read_aug_state,
    run_record,
)
from vision_ssl.methods.step import StepOutput, Views, log_step, probe_loss_and_top1, tensorboard, view_grids
from vision_ssl.transforms import IMAGENET_MEAN, IMAGENET_STD, Normalize
from vision_ssl.transforms.recipes import SimCLRViews
from vision_ssl.utils import distributed
from vision_ssl.utils.optim import build_optimization, method_groups
from vision_ssl.utils.seeding import seeded


class SSLMethod(L.LightningModule):
    """Base of all image methods.

    Args:
        backbone: backbone name (`tiny`, or any timm model name).
        backbone_kwargs: extra constructor arguments of the backbone (e.g. `{width: 16}` for `tiny`).
        cifar_stem: 3x3 stride-1 stem without max-pool for ResNets on small images.
        num_classes: classes of the online probe (linked from `data.num_classes` by the CLI); 0 for unlabelled data:
            no online probe and no `*/probe_top1` (a labelled evaluation set can still be watched, see
            `vision_ssl.eval.monitor.ValidationMonitor`).
        image_size: side of the augmented views (linked from `data.image_size` by the CLI).
        in_chans: input channels (linked from `data.channels` by the CLI); 1-channel batches are repeated to 3.
        mean: per-channel normalisation mean.
        std: per-channel normalisation std.
        augment: the view recipe (e.g. `vision_ssl.transforms.SimCLRViews`); None: the method's own default.
        optimizer: optimizer factory (LightningCLI `class_path`/`init_args`); default AdamW(lr=1e-3, wd=1e-4).
        scheduler: LR scheduler factory; default linear warm-up then cosine, stepped every batch.
        warmup_epochs: warm-up length of the default scheduler, in epochs (fractions allowed).
        probe_lr: learning rate of the online probe's parameter group (default: the optimizer's).
    """

    num_views: int | None = 2  # views `ssl_step` expects (None: any number, e.g. multi-crop)
    min_batch_size: int = 2  # per process: pairs to contrast and BatchNorm statistics
    decay_norm_and_bias: bool = True  # False where the paper excludes norms and biases from weight decay
    finite_check_every: int = 50  # steps between reads of the non-finite flag (each read is one host sync)
    needs_labels: bool = False  # True for methods trained on labels (the supervised baseline)

    if TYPE_CHECKING:  # Lightning types `hparams` as a MutableMapping; `save_hyperparameters` makes an AttributeDict

        @property
        def hparams(self) -> AttributeDict: ...

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
        augment: nn.Module | None = None,
        optimizer: OptimizerCallable | None = None,
        scheduler: LRSchedulerCallable | None = None,
        warmup_epochs: float = 10.0,
        probe_lr: float | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "augment"])
        check_num_classes(num_classes, self.needs_labels, type(self).__name__)
        if len(mean) != in_chans or len(std) != in_chans:
            raise ValueError(f"mean/std need {in_chans} values (in_chans), got {len(mean)} and {len(std)}")
        if warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs}")
        self.backbone = create_backbone(backbone, cifar_stem=cifar_stem, in_chans=in_chans, **(backbone_kwargs or {}))
        check_image_size(self.backbone, backbone, image_size)
        self.num_features = num_features_of(self.backbone)
        self.probe = nn.Linear(self.num_features, num_classes) if num_classes else None
        self.normalize = Normalize(None, mean, std)
        self.augment = check_recipe(self.default_augment() if augment is None else augment, image_size,
                                    self.num_views, type(self).__name__)
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.val_top1 = torchmetrics.Accuracy("multiclass", num_classes=num_classes, ignore_index=-1) if num_classes else None
        self.test_top1 = None if self.val_top1 is None else self.val_top1.clone()
        # Augmentation RNG state: plain ints (no host sync to read them), checkpointed in `on_save_checkpoint`.
        self.aug_seed, self.aug_step = -1, 0
        self.finite = NonFiniteWatch()

    # ----------------------------------------------------------------- what a method implements
    def default_augment(self) -> nn.Module:
        """The recipe used when `augment` is None: SimCLR's, `num_views` views."""
        return SimCLRViews(num_views=self.num_views or 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features (B, num_features) of normalised images."""
        return self.backbone(x)

    def make_views(self, images: torch.Tensor) -> Views:
        """Normalised views of a uint8 batch (override to draw masks or tiles into `Views.extra`)."""
        return Views([self.normalize(v) for v in self.augment(images)])

    def ssl_step(self, views: Views, labels: torch.Tensor) -> StepOutput:
        """Loss, probe features and extra logs of one training batch (labels -1 where unlabelled)."""
        raise NotImplementedError

    def occasional_features(self, x: torch.Tensor, every: int) -> torch.Tensor | None:
        """Backbone features of `x` without gradient every `every` steps, else None: for pretexts whose loss never
        sees the clean image, so the probe's extra pass costs 1/every of a pass per step."""
        if self.global_step % every:
            return None
        with torch.no_grad():
            return self.backbone(x)

    # ----------------------------------------------------------------- data on the device
    def on_fit_start(self) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        batch_size = getattr(dm, "batch_size", None)
        if batch_size is not None:
            check_batch_size(batch_size, self.min_batch_size, type(self).__name__)
        check_data_labels(self.hparams.num_classes, getattr(dm, "num_classes", None), type(dm).__name__)
        if self.aug_seed < 0:  # fresh run: derive from the seed Lightning set (seed_everything)
            self.aug_seed = torch.initial_seed() % (2**31)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        images, labels = batch
        if images.shape[1] == 1 and self.hparams.in_chans == 3:
            images = images.expand(-1, 3, -1, -1)  # gray to RGB on the device, not in the loader
        if self._trainer is not None and self._trainer.training:
            seed = (self.aug_seed * 1_000_003 + distributed.rank() * 7919 + self.aug_step) % (2**63)
            with seeded(seed, images.device):
                views = self.make_views(images)
            self.aug_step += 1
            return views, labels
        return self.normalize(images), labels

    # ----------------------------------------------------------------- steps
    def training_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        if self.global_step and self.global_step % self.finite_check_every == 0:
            self.finite.check(self.global_step)  # the steps before: one host sync every `finite_check_every`
        views, labels = batch
        out = self.ssl_step(views, labels)
        self.finite.record(out.loss, out.logs, self.global_step)
        bs = labels.shape[0]
        total = out.loss
        if out.features is not None and self.probe is not None:
            probe_loss, top1 = probe_loss_and_top1(self.probe(out.features.detach()), labels)  # no grad to backbone
            self.log("train/probe_loss", probe_loss, batch_size=bs)
            self.log("train/probe_top1", top1, on_step=False, on_epoch=True, prog_bar=True, batch_size=bs)
            total = total + probe_loss
        log_step(self, out, bs)
        if batch_idx == 0:
            self.log_views(views)
        features = None if out.features is None else out.features.detach()
        return {"loss": total, "features": features, "labels": labels}

    def validation_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        images, labels = batch
        return self.eval_probe(self(images), labels, self.val_top1, "val")

    def test_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        images, labels = batch
        return self.eval_probe(self(images), labels, self.test_top1, "test")

    def eval_probe(self, features: torch.Tensor, labels: torch.Tensor, metric: torchmetrics.Metric | None,
                   split: str) -> dict[str, torch.Tensor]:
        """Probe accuracy of clean features; returns them for the monitors (`vision_ssl.eval.monitor`)."""
        if self.probe is None or metric is None:  # unlabelled data: the monitors alone
            return {"features": features, "labels": labels}
        metric.update(self.probe(features), labels)
        self.log(f"{split}/probe_top1", metric, prog_bar=split == "val", batch_size=labels.shape[0], sync_dist=True)
        return {"features": features, "labels": labels}

    def on_validation_start(self) -> None:
        self.finite.check(self.global_step)  # before validation runs on weights a non-finite step has broken

    def log_views(self, views: Views) -> None:
        """One TensorBoard grid per view size (`train/views_<h>x<w>`), once per epoch."""
        if (writer := tensorboard(self)) is not None:
            for tag, grid in view_grids(views, self.normalize.invert).items():
                writer.add_image(tag, grid, self.current_epoch)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        check_checkpoint_method(checkpoint, type(self))
        self.aug_seed, self.aug_step = read_aug_state(checkpoint)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse to save after a non-finite step; record method, data and augmentation RNG state, so
        `vision_ssl.eval.load_run` can rebuild the run from the file alone and a resume draws the same views."""
        self.finite.check(self.global_step)
        dm = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        checkpoint["vision_ssl"] = run_record(self, dm, aug_seed=self.aug_seed, aug_step=self.aug_step)

    # ----------------------------------------------------------------- optimisation
    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        """Lightning's optimizer step, then `after_optimizer_step`: once per optimizer step whatever
        `accumulate_grad_batches`, and before the callbacks' `on_train_batch_end` saves this step's checkpoint."""
        super().optimizer_step(*args, **kwargs)
        self.after_optimizer_step()

    def after_optimizer_step(self) -> None:
        """Override to move the state that follows the weights (momentum teacher, queue); `self.global_step` is
        still the index of the step just taken. See `vision_ssl.utils.momentum`."""

    def configure_optimizers(self) -> Any:
        # Named groups backbone / heads / probe; the probe: no weight decay, and no LARS trust ratio.
        groups = method_groups(self, self.backbone, self.probe, self.decay_norm_and_bias, self.hparams.probe_lr)
        return build_optimization(groups, self.trainer, self.optimizer_factory, self.scheduler_factory,
                                  self.hparams.warmup_epochs)
