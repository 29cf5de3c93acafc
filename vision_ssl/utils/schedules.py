"""Learning-rate and momentum schedules, sized in optimizer steps."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine_factor(step: int, warmup_steps: int, total_steps: int, final_factor: float = 0.0) -> float:
    """Multiplier of the base LR: linear warm-up from ~0 to 1, then cosine decay to `final_factor`.

    Args:
        step: current optimizer step (0-based).
        warmup_steps: steps of linear warm-up; 0 disables it.
        total_steps: total optimizer steps of the run.
        final_factor: multiplier reached at the last step.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    progress = min(1.0, progress)
    return final_factor + (1.0 - final_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))


class WarmupCosine(LambdaLR):
    """`LambdaLR` with `warmup_cosine_factor`; step it every optimizer step (interval="step")."""

    def __init__(
        self, optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, final_factor: float = 0.0
    ) -> None:
        if total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {total_steps}")
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"warmup_steps must be in [0, total_steps={total_steps}], got {warmup_steps}")
        super().__init__(
            optimizer, lambda s: warmup_cosine_factor(s, warmup_steps, total_steps, final_factor)
        )


def cosine_momentum(step: int, total_steps: int, base: float = 0.99, final: float = 1.0) -> float:
    """BYOL's teacher momentum: base -> final along a half cosine (Grill et al. 2020, Sec. 3.2)."""
    progress = min(1.0, step / max(1, total_steps))
    return final - (final - base) * 0.5 * (1.0 + math.cos(math.pi * progress))
