"""`VideoMethod`: the thin LightningModule the clip methods (`NextFramePredictor`, `VideoJEPA`) build on, the clip
counterpart of `SSLMethod`. A method implements `ssl_step(views, labels) -> StepOutput` on clips in [0, 1] (the
same contract as the image methods, `vision_ssl.methods.step`) and, if it samples or rolls out futures, the
`evaluate_rollouts` hook; the base owns the training step, the multi-label online probe on the features of the
step (the digits of the clip; none when the data has no labels), validation and test logging, the optimizer and
schedule, and the image base's guarantees: a non-finite watch without host syncs (read every `finite_check_every`
steps, before validation and before every checkpoint), the checkpoint record of method and data (so the evaluators,
`embed`, `export` and `load_encoder` take a video checkpoint's frame encoder as `backbone`, with `normalize` mapping
uint8 frames to [0, 1]) and the check that a checkpoint is resumed by the method that wrote it.

Batches are (clips uint8 (B, T, C, H, W), labels long (B, K)), K labels per clip (-1: none), as the data modules of
`vision_ssl.data.moving_mnist` and `vision_ssl.data.video` give them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.fabric.utilities.data import AttributeDict
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from vision_ssl.methods.checks import NonFiniteWatch, check_checkpoint_method, run_record
from vision_ssl.methods.step import StepOutput, Views, log_step
from vision_ssl.utils.optim import build_optimization, method_groups


class VideoMethod(L.LightningModule):
    """Base of the clip methods. A subclass builds `self.encoder` (frames -> (embedding, skips)) from the
    hyperparameters this constructor saves, and sets `self.num_features` (the embedding size) and `self.probe`
    (`video_probe`: embedding -> num_classes, or None without labels).

    Args:
        num_classes: digits of the online probe (linked from the data module by the CLI); 0 (or 1): no probe.
        in_chans: channels of the frames (linked from the data module by the CLI).
        context_frames: observed frames before the predicted future in validation and test rollouts (SVG-LP: 5
            on SM-MNIST).
        optimizer: optimizer factory (LightningCLI `class_path`/`init_args`); default: the method's
            `default_optimizer`, AdamW(lr=1e-3, weight_decay=1e-4) unless the method names another
            (`NextFramePredictor`: SVG's Adam(lr=2e-3)).
        scheduler: LR scheduler factory; default linear warm-up then cosine, stepped every batch.
        warmup_epochs: warm-up of the default scheduler, in epochs (fractions allowed).
        probe_lr: learning rate of the online probe's parameter group (default: the optimizer's).
    """

    finite_check_every: int = 50  # steps between reads of the non-finite flag (each read is one host sync)
    num_features: int  # set by the subclass
    probe: nn.Module | None  # set by the subclass

    if TYPE_CHECKING:  # Lightning types `hparams` as a MutableMapping; `save_hyperparameters` makes an AttributeDict

        @property
        def hparams(self) -> AttributeDict: ...

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        context_frames: int = 5,
        optimizer: OptimizerCallable | None = None,
        scheduler: LRSchedulerCallable | None = None,
        warmup_epochs: float = 0.0,
        probe_lr: float | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        if context_frames < 1 or warmup_epochs < 0:
            raise ValueError(f"context_frames must be >= 1 and warmup_epochs >= 0, got {context_frames} and "
                             f"{warmup_epochs}")
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.finite = NonFiniteWatch()

    # ----------------------------------------------------------------- the frame encoder for the evaluators
    @property
    def backbone(self) -> nn.Module:
        """The frame encoder as an image backbone: frames (B, C, H, W) in [0, 1] -> embeddings (B, num_features)."""
        return FrameFeatures(self.get_submodule("encoder"), self.num_features)

    @property
    def normalize(self) -> nn.Module:
        """uint8 (or [0, 1]) frames -> the encoder's input in [0, 1]."""
        return UnitRange()

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
        if self.global_step and self.global_step % self.finite_check_every == 0:
            self.finite.check(self.global_step)
        clips, labels = batch
        out = self.ssl_step(Views([clips.float() / 255]), labels)
        self.finite.record(out.loss, out.logs, self.global_step)
        log_step(self, out, clips.shape[0])
        return out.loss + multi_label_probe(self, self.probe, out.features, labels, "train")

    def on_validation_start(self) -> None:
        self.finite.check(self.global_step)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse to save after a non-finite step; record method and data module (`vision_ssl.methods.restore`)."""
        self.finite.check(self.global_step)
        dm = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        checkpoint["vision_ssl"] = run_record(self, dm)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        check_checkpoint_method(checkpoint, type(self))

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


def video_probe(dim: int, num_classes: int) -> nn.Linear | None:
    """The online probe of a clip method: none when the data has no labels (num_classes 0, or 1 as older video data
    modules gave)."""
    return nn.Linear(dim, num_classes) if num_classes >= 2 else None


def multi_label_probe(module: L.LightningModule, probe: nn.Module | None, h: torch.Tensor | None, labels: torch.Tensor,
                      stage: str) -> torch.Tensor | float:  # fmt: skip
    """Multi-label linear probe on detached embeddings (B, D) of one frame and the digits (B, K) of its clip (-1:
    none); logs `{stage}/probe_top1`, a hit being an argmax that is a digit present, and returns the BCE loss (0
    without a probe, or without features this step, as `StepOutput.features` allows).
    Branch-free, without host syncs: clips with no known label weigh nothing (and the epoch mean is over clips)."""
    if probe is None or h is None:
        return 0.0
    labels = labels.view(labels.shape[0], -1)
    known = labels >= 0
    rows = known.any(1).float()  # (B,)
    logits = probe(h.detach())
    target = torch.zeros_like(logits).scatter_(1, labels.clamp_min(0), known.float())
    per_clip = F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(1)  # (B,)
    loss = (per_clip * rows).sum() / rows.sum().clamp(min=1)
    hit = target.gather(1, logits.argmax(1, keepdim=True))[:, 0]
    top1 = (hit * rows).sum() / rows.sum().clamp(min=1)
    module.log(f"{stage}/probe_top1", top1, on_step=False, on_epoch=True, batch_size=labels.shape[0], sync_dist=True)
    return loss


class FrameFeatures(nn.Module):
    """A clip method's frame encoder seen as an image backbone (its embeddings, without the decoder's skips)."""

    def __init__(self, encoder: nn.Module, num_features: int) -> None:
        super().__init__()
        self.encoder, self.num_features = encoder, num_features

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.encoder(frames)[0]  # (B, num_features)


class UnitRange(nn.Module):
    """uint8 images -> float in [0, 1]; float images pass through (the clip methods' input range)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() / 255 if x.dtype == torch.uint8 else x
