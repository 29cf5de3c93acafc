"""The contract of a LightlySSL reference model in the peer-parity benchmark: what `parity_lightly.train_reference`
calls on the models of `parity_lightly.py` (two-view methods, MAE) and `parity_lightly_ema.py` (DINO, I-JEPA).
Its own module so that both files can subclass it without importing each other.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class Reference(nn.Module):
    """A backbone with lightly heads. Per step `train_reference` calls `before_step(step, total)` (teachers,
    schedules), `loss(*unpack(batch))`, backward, `after_backward()` (gradient surgery), then the optimizer.
    `encoder` is what the evaluator scores.

    Attributes:
        decay_norm_and_bias: False where the vision_ssl side keeps norms and biases out of weight decay; the loop
            then splits the parameters with lightly's `get_weight_decay_parameters`.
    """

    decay_norm_and_bias = True

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    @property
    def encoder(self) -> nn.Module:
        return self.backbone

    def before_step(self, step: int, total: int) -> None:
        pass

    def after_backward(self) -> None:
        pass

    def unpack(self, batch: Any) -> tuple[Any, ...]:
        """The loader's batch -> the arguments of `loss`: here the views of a (views, labels) batch."""
        views, _ = batch
        return tuple(views)

    def loss(self, *inputs: Any, **kwargs: Any) -> torch.Tensor:  # each method names its own inputs
        raise NotImplementedError
