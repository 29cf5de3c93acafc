"""`VideoMethod`: the thin LightningModule the clip methods (`NextFramePredictor`, `VideoJEPA`) build on, the clip
counterpart of `SSLMethod`. A method implements `ssl_step(views, labels) -> StepOutput` on clips in [0, 1] (the
same contract as the image methods, `vision_ssl.methods.step`) and, if it samples or rolls out futures, the
`evaluate_rollouts` hook; the base owns the training step, the multi-label online probe on the features of the
step (the digits of the clip), validation and test logging, and the optimizer and schedule.

Batches are (clips uint8 (B, T, C, H, W), labels long (B, K)), K labels per clip (-1: none), as the data modules of
`vision_ssl.data.moving_mnist` and `vision_ssl.data.video` give them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from vision_ssl.methods.step import StepOutput, Views, log_step
from vision_ssl.utils.optim import build_optimization, method_groups


class VideoMethod(L.LightningModule):
    """Base of the clip methods. A subclass builds `self.encoder` (frames -> embedding) and `self.probe` (embedding
    -> num_classes) and keeps `context_frames`, `warmup_epochs` and `probe_lr` in its hyperparameters.

    Args:
        optimizer: optimizer factory (LightningCLI `class_path`/`init_args`); default: the method's
            `default_optimizer`.
        scheduler: LR scheduler factory; default linear warm-up then cosine, stepped every batch.
    """

    def __init__(self, optimizer: OptimizerCallable | None = None, scheduler: LRSchedulerCallable | None = None) -> None:
        super().__init__()
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler

    # ----------------------------------------------------------------- what a method implements
    @staticmethod
    def default_optimizer(groups: Any) -> torch.optim.Optimizer:
        """The optimizer when none is injected."""
        return torch.optim.AdamW(groups, lr=1e-3, weight_decay=1e-4)

    def ssl_step(self, views: Views, labels: torch.Tensor) -> StepOutput:
        """Loss, probe features (B, D) and logs of clips `views.images[0]` (B, T, C, H, W) in [0, 1]; tensors that
        `evaluate_rollouts` reads go in `StepOutput.extra`."""
        raise NotImplementedError

    def evaluate_rollouts(self, frames: torch.Tensor, out: StepOutput, batch_idx: int, stage: str) -> None:
        """Validation/test metrics beyond the loss and the probe (sampled futures, rollouts); none by default."""

    # ----------------------------------------------------------------- steps
    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        clips, labels = batch
        out = self.ssl_step(Views([clips.float() / 255]), labels)
        log_step(self, out, clips.shape[0])
        return out.loss + multi_label_probe(self, self.probe, out.features, labels, "train")

    def evaluate(self, batch: Any, batch_idx: int, stage: str) -> None:
        """Loss, logs and probe of every clip under `stage/`, then the method's `evaluate_rollouts`."""
        clips, labels = batch
        frames, c, b = clips.float() / 255, self.hparams.context_frames, clips.shape[0]
        if frames.shape[1] <= c:
            raise ValueError(f"clips of {frames.shape[1]} frames leave nothing to predict after context_frames={c}")
        out = self.ssl_step(Views([frames]), labels)
        multi_label_probe(self, self.probe, out.features, labels, stage)
        self.log(f"{stage}/loss", out.loss, batch_size=b, sync_dist=True)
        for key, value in out.logs.items():
            self.log(f"{stage}/{key}", value, batch_size=b, sync_dist=True)
        self.evaluate_rollouts(frames, out, batch_idx, stage)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.evaluate(batch, batch_idx, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self.evaluate(batch, batch_idx, "test")

    def log_per_frame(self, stage: str, key: str, values: torch.Tensor, batch_size: int, first: int = 1,
                      prog_bar: bool = False) -> None:  # fmt: skip
        """Log the mean of `values` (F,) as `stage/key` and each as `stage_frames/key_tNN`, NN from `first`."""
        self.log(f"{stage}/{key}", values.mean(), batch_size=batch_size, sync_dist=True, prog_bar=prog_bar)
        for k, v in enumerate(values):
            self.log(f"{stage}_frames/{key}_t{first + k:02d}", v, batch_size=batch_size, sync_dist=True)

    # ----------------------------------------------------------------- optimisation
    def configure_optimizers(self) -> Any:
        """The probe in its own group without weight decay (at `probe_lr` if set); the injected optimizer (else
        `default_optimizer`) and scheduler (`vision_ssl.utils.optim`)."""
        groups = method_groups(self, self.get_submodule("encoder"), self.probe, probe_lr=self.hparams.probe_lr)
        optimizer: Callable[[Any], torch.optim.Optimizer] = self.optimizer_factory or self.default_optimizer
        return build_optimization(groups, self.trainer, optimizer, self.scheduler_factory, self.hparams.warmup_epochs)


def multi_label_probe(module: L.LightningModule, probe: nn.Module, h: torch.Tensor, labels: torch.Tensor,
                      stage: str) -> torch.Tensor:  # fmt: skip
    """Multi-label linear probe on detached embeddings (B, D) of one frame and the digits (B, K) of its clip (-1:
    none); logs `{stage}/probe_top1`, a hit being an argmax that is a digit present, and returns the BCE loss."""
    labels = labels.view(labels.shape[0], -1)
    known = labels >= 0
    rows = known.any(1)
    logits = probe(h.detach())
    if not rows.any():
        return logits.sum() * 0.0
    target = torch.zeros_like(logits).scatter_(1, labels.clamp_min(0), known.float())
    loss = F.binary_cross_entropy_with_logits(logits[rows], target[rows])
    hit = target.gather(1, logits.argmax(1, keepdim=True))[rows]
    module.log(f"{stage}/probe_top1", hit.mean(), on_step=False, on_epoch=True, batch_size=int(rows.sum()), sync_dist=True)
    return loss
