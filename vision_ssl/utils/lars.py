"""LARS (You, Gitman & Ginsburg 2017), as used by SimCLR, BYOL and Barlow Twins for large batches."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


class LARS(torch.optim.Optimizer):
    """SGD with momentum and a layer-wise trust ratio `eta * ||w|| / (||g|| + wd * ||w||)`.

    Parameters with fewer than two dimensions (biases, norm weights) are excluded from both weight decay and
    the trust ratio, as in the SimCLR and BYOL reference implementations. A parameter group with `lars: False`
    (the online probe's) is plain SGD with momentum.

    Args:
        params: parameters or parameter groups.
        lr: base learning rate.
        momentum: heavy-ball momentum.
        weight_decay: L2 penalty added to the gradient before the trust ratio.
        eta: trust coefficient.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.1,
        momentum: float = 0.9,
        weight_decay: float = 1e-6,
        eta: float = 1e-3,
    ) -> None:
        if lr <= 0:
            raise ValueError(f"LARS lr must be positive, got {lr}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta))

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if p.ndim > 1 and group.get("lars", True):
                    grad = grad.add(p, alpha=group["weight_decay"])
                    w_norm, g_norm = torch.linalg.norm(p), torch.linalg.norm(grad)
                    trust = torch.where(
                        (w_norm > 0) & (g_norm > 0), group["eta"] * w_norm / g_norm, torch.ones_like(w_norm)
                    )
                    grad = grad * trust
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.clone(grad).detach()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(grad)
                p.add_(state["momentum_buffer"], alpha=-group["lr"])
        return loss
