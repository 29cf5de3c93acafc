"""Optimizer plumbing shared by every method: parameter groups with weight decay excluded from norm and bias
parameters, and the default optimizer/scheduler (AdamW, linear warm-up then cosine, stepped every batch)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from vision_ssl.utils.schedules import WarmupCosine


def decay_groups(module: nn.Module, exclude: Iterable[nn.Parameter] = (), decay_norm_and_bias: bool = True) -> list[dict]:
    """Trainable parameters of `module` not in `exclude`, as optimizer groups.

    With `decay_norm_and_bias=False` biases and every 1-D parameter (BatchNorm/LayerNorm weights, ViT class and
    position tokens are kept with decay as in timm) go to a group with `weight_decay=0` and no LARS adaptation,
    as BYOL (Sec. 3.3), Barlow Twins, DINO, MAE and I-JEPA do.
    """
    skip = {id(p) for p in exclude}
    params = [p for p in module.parameters() if p.requires_grad and id(p) not in skip]
    if decay_norm_and_bias:
        return [{"params": params}]
    no_decay = [p for p in params if p.ndim <= 1]
    decay = [p for p in params if p.ndim > 1]
    return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0, "lars": False}]


def build_optimization(
    groups: list[dict],
    trainer: Any,
    optimizer_factory: Callable[[Any], torch.optim.Optimizer] | None,
    scheduler_factory: Callable[[torch.optim.Optimizer], Any] | None,
    warmup_epochs: float,
) -> dict[str, Any]:
    """Lightning's `configure_optimizers` answer: the injected optimizer (default AdamW(lr=1e-3, wd=1e-4)) and
    scheduler (default `WarmupCosine` sized from `trainer.estimated_stepping_batches`), stepped every batch."""
    if optimizer_factory is None:
        optimizer: torch.optim.Optimizer = torch.optim.AdamW(groups, lr=1e-3, weight_decay=1e-4)
    else:
        optimizer = optimizer_factory(groups)
    if scheduler_factory is not None:
        scheduler: Any = scheduler_factory(optimizer)
    else:
        total = int(trainer.estimated_stepping_batches)
        epochs = max(1, trainer.max_epochs or 1)
        warmup = min(total, round(warmup_epochs * total / epochs))
        scheduler = WarmupCosine(optimizer, warmup_steps=warmup, total_steps=max(1, total))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
