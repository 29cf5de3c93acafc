"""Optimizer plumbing shared by every method: parameter groups with weight decay excluded from norm and bias
parameters, and the default optimizer/scheduler (AdamW, linear warm-up then cosine, stepped every batch)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from vision_ssl.utils.schedules import WarmupCosine


def decay_groups(module: nn.Module, exclude: Iterable[nn.Parameter] = (), decay_norm_and_bias: bool = True,
                 name: str = "params") -> list[dict]:
    """Trainable parameters of `module` not in `exclude`, as optimizer groups named `name` (and `name_no_decay`;
    Lightning's LearningRateMonitor logs each group's LR under its name).

    With `decay_norm_and_bias=False` biases and every 1-D parameter (BatchNorm/LayerNorm weights, ViT class and
    position tokens are kept with decay as in timm) go to a group with `weight_decay=0` and no LARS adaptation,
    as BYOL (Sec. 3.3), Barlow Twins, DINO, MAE and I-JEPA do.
    """
    skip = {id(p) for p in exclude}
    params = [p for p in module.parameters() if p.requires_grad and id(p) not in skip]
    if decay_norm_and_bias:
        return [{"params": params, "name": name}]
    no_decay = [p for p in params if p.ndim <= 1]
    decay = [p for p in params if p.ndim > 1]
    return [{"params": decay, "name": name}, {"params": no_decay, "weight_decay": 0.0, "lars": False,
                                              "name": f"{name}_no_decay"}]


def method_groups(method: nn.Module, backbone: nn.Module, probe: nn.Module | None, decay_norm_and_bias: bool = True,
                  probe_lr: float | None = None) -> list[dict]:
    """A method's optimizer groups, named for the LR curves: `backbone` (and `backbone_no_decay`), `heads` (every
    other trainable parameter: projectors, predictors, decoders; and `heads_no_decay`) and `probe` (the online
    probe: no weight decay, no LARS trust ratio, at `probe_lr` if set). Groups left empty (a frozen backbone,
    e.g. I-JEPA's EMA target; no probe on unlabelled data) are dropped."""
    probe_params = [] if probe is None else list(probe.parameters())
    groups = decay_groups(backbone, probe_params, decay_norm_and_bias, "backbone")
    groups += decay_groups(method, [*backbone.parameters(), *probe_params], decay_norm_and_bias, "heads")
    probe_group: dict[str, Any] = {"params": probe_params, "weight_decay": 0.0, "lars": False, "name": "probe"}
    if probe_lr is not None:
        probe_group["lr"] = probe_lr
    return [g for g in groups + [probe_group] if g["params"]]


def build_optimization(
    groups: list[dict],
    trainer: Any,
    optimizer_factory: Callable[[Any], torch.optim.Optimizer] | None,
    scheduler_factory: Callable[[torch.optim.Optimizer], Any] | None,
    warmup_epochs: float,
) -> dict[str, Any]:
    """Lightning's `configure_optimizers` answer: the injected optimizer (default AdamW(lr=1e-3, wd=1e-4)) and
    scheduler (default `WarmupCosine` sized by `schedule_lengths`), stepped every optimizer step."""
    if optimizer_factory is None:
        optimizer: torch.optim.Optimizer = torch.optim.AdamW(groups, lr=1e-3, weight_decay=1e-4)
    else:
        optimizer = optimizer_factory(groups)
    if scheduler_factory is not None:
        scheduler: Any = scheduler_factory(optimizer)
    else:
        warmup, total = schedule_lengths(trainer, warmup_epochs)
        scheduler = WarmupCosine(optimizer, warmup_steps=warmup, total_steps=total)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def optimizer_steps_per_epoch(trainer: Any) -> float:
    """Optimizer steps in one epoch: ceil(training batches / accumulate_grad_batches), the training batches being
    Lightning's `num_training_batches` (one rank's loader after `limit_train_batches`); the loop also steps on an
    epoch's last, incomplete accumulation, hence the ceiling (as in `Trainer.estimated_stepping_batches`).

    Loads the train loader if the trainer has not yet (as `estimated_stepping_batches` does). Without a sized loader
    (or for a stand-in trainer without one) it falls back to `estimated_stepping_batches / max_epochs`, and to inf
    when the run is bounded by `max_steps` alone.
    """
    fit_loop = getattr(trainer, "fit_loop", None)
    if fit_loop is not None and trainer.train_dataloader is None:
        fit_loop.setup_data()
    batches = getattr(trainer, "num_training_batches", math.inf)
    if math.isfinite(batches):
        return max(1, math.ceil(batches / getattr(trainer, "accumulate_grad_batches", 1)))
    epochs = trainer.max_epochs or -1
    return trainer.estimated_stepping_batches / epochs if epochs > 0 else math.inf


def schedule_lengths(trainer: Any, warmup_epochs: float) -> tuple[int, int]:
    """(warm-up steps, total steps) of the run `trainer` will do, in optimizer steps.

    The total is `trainer.estimated_stepping_batches` (max_epochs, max_steps, limit_train_batches, accumulation and
    devices all counted); the warm-up is `warmup_epochs` (fractions allowed) times `optimizer_steps_per_epoch`,
    capped at the total. An epoch is thus the same number of steps whether the run is bounded by max_epochs or by
    max_steps (where Lightning sets max_epochs to -1).
    """
    total = trainer.estimated_stepping_batches
    if not math.isfinite(total):
        raise ValueError("the learning-rate schedule needs a bounded run: set max_epochs or max_steps")
    total = max(1, int(total))
    if warmup_epochs <= 0:
        return 0, total
    per_epoch = optimizer_steps_per_epoch(trainer)
    if not math.isfinite(per_epoch):
        raise ValueError(f"warmup_epochs={warmup_epochs} needs a train loader with a length or max_epochs; "
                         "set warmup_epochs to 0 or give the dataset a length")
    return min(total, round(warmup_epochs * per_epoch)), total
