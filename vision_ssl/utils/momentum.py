"""Momentum (EMA) teachers as helpers, not a base class: `frozen_copy` makes the teacher, `update_ema` moves
it, and `vision_ssl.utils.schedules.cosine_momentum` gives BYOL's / MoCo v3's momentum schedule.

    self.teacher = frozen_copy(nn.Sequential(self.backbone, self.projector))
    ...
    def after_optimizer_step(self) -> None:  # SSLMethod calls it at the end of `optimizer_step`
        update_ema(self.teacher, nn.Sequential(self.backbone, self.projector), self.momentum())

Where: once per optimizer step, right after it. Not in `on_train_batch_end`, which runs once per micro-batch under
`accumulate_grad_batches` (k EMA moves per step) and after the callbacks' `on_train_batch_end`, where `last.ckpt`
is written (a resume from it would miss the step's EMA move). The schedule is indexed by the optimizer step:
`global_step`, still the index of the step just taken inside `optimizer_step`.
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar

import torch
from torch import nn

from vision_ssl.utils.schedules import cosine_momentum

M = TypeVar("M", bound=nn.Module)


def frozen_copy(module: M) -> M:
    """A deep copy of `module` whose parameters never receive gradients (the optimizer skips them)."""
    teacher = copy.deepcopy(module)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


@torch.no_grad()
def update_ema(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """teacher <- momentum * teacher + (1 - momentum) * student, parameter by parameter.

    Buffers (BatchNorm running statistics) are not averaged: the teacher keeps its own, updated by its own
    forward passes, as in the MoCo and BYOL reference code.

    Args:
        teacher: module built by `frozen_copy(student)` (same parameter order and shapes).
        student: the online module.
        momentum: in [0, 1]; 1 freezes the teacher, 0 copies the student.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    t_params: list[torch.Tensor] = list(teacher.parameters())
    s_params = list(student.parameters())
    if len(t_params) != len(s_params):
        raise ValueError(f"teacher has {len(t_params)} parameters, student {len(s_params)}: not a copy")
    torch._foreach_lerp_(t_params, [s.detach() for s in s_params], 1.0 - momentum)


def scheduled_momentum(module: Any, base: float, final: float, shape: str = "cosine") -> float:
    """The teacher momentum of `module`'s optimizer step `global_step` (0-based), `base` to `final` over the run:
    `cosine_momentum` (BYOL Sec. 3.2, MoCo v3, DINO) or `linear` (I-JEPA Sec. 4). `base` when the module is not
    attached to a trainer."""
    trainer = getattr(module, "_trainer", None)
    total = max(1, int(trainer.estimated_stepping_batches)) if trainer is not None else 1
    if shape == "linear":
        return base + (final - base) * min(1.0, module.global_step / total)
    if shape != "cosine":
        raise ValueError(f"shape must be 'cosine' or 'linear', got '{shape}'")
    return cosine_momentum(module.global_step, total, base, final)
