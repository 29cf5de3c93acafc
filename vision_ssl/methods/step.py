"""The step contract between `SSLMethod` and the methods: what `make_views` gives and what `ssl_step` returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torchvision.utils import make_grid


@dataclass
class Views:
    """A training batch after on-device augmentation.

    Attributes:
        images: normalised float views, each (B, C, h_i, w_i); sizes may differ (multi-crop, global crops first).
        extra: what a pretext draws with the views under the same per-step seed: masks, keep-indices, tiles, targets.
    """

    images: list[torch.Tensor]
    extra: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class StepOutput:
    """What a method's `ssl_step` returns.

    Attributes:
        loss: the scalar the optimizer minimises.
        features: backbone features (B, F) of the clean-most view for the online probe and the kNN monitor
            (detached by the base); None skips the probe this step (methods that need an extra pass for them).
        logs: extra scalars, logged as `train/<key>`.
        extra: tensors a method's own evaluation reads again (e.g. a clip method's frame embeddings); not logged.
    """

    loss: torch.Tensor
    features: torch.Tensor | None
    logs: dict[str, torch.Tensor] = field(default_factory=dict)
    extra: dict[str, torch.Tensor] = field(default_factory=dict)


def log_step(module: Any, out: StepOutput, batch_size: int) -> None:
    """Log a training step's loss as `train/loss` and its extra scalars as `train/<key>` (every method)."""
    module.log("train/loss", out.loss, prog_bar=True, batch_size=batch_size)
    for key, value in out.logs.items():
        module.log(f"train/{key}", value, batch_size=batch_size)


def tensorboard(module: Any) -> Any | None:
    """The TensorBoard `SummaryWriter` of a LightningModule's logger on rank 0, else None: images are logged by one
    rank and only to TensorBoard, so image logging (and the work of drawing them) is skipped when this is None."""
    if isinstance(module.logger, TensorBoardLogger) and module.global_rank == 0:
        return module.logger.experiment
    return None


def view_grids(views: Views, invert: Callable[[torch.Tensor], torch.Tensor], n: int = 8) -> dict[str, torch.Tensor]:
    """One image grid per view size, `train/views_<h>x<w>`: a row of the first `n` images of each view of that size
    (multi-crop views differ in size and cannot share one grid)."""
    by_size: dict[tuple[int, ...], list[torch.Tensor]] = {}
    for v in views.images:
        by_size.setdefault(tuple(v.shape[-2:]), []).append(invert(v[:n].detach().float()))
    return {f"train/views_{h}x{w}": make_grid(torch.cat(rows), nrow=min(n, rows[0].shape[0]))
            for (h, w), rows in by_size.items()}


def probe_loss_and_top1(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy and top-1 of probe logits (B, K) over the labelled images (labels -1 weigh nothing; both are
    0 when none is labelled), with no boolean indexing and so no host sync."""
    labelled = (labels >= 0).float()
    count = labelled.sum().clamp(min=1)
    loss = (torch.nn.functional.cross_entropy(logits, labels.clamp(min=0), reduction="none") * labelled).sum() / count
    return loss, ((logits.argmax(1) == labels).float() * labelled).sum() / count
