"""Losses in float32 whatever the autocast dtype: `float32_loss` wraps a loss function so that autocast is off on
its inputs' device and every half-precision floating input (float16, bfloat16) is upcast to float32.

Why: the softmaxes, exponentials of similarities over small temperatures (InfoNCE, DINO's Eq. 1), the cross-
correlation and covariance sums (Barlow Twins Eq. 2, VICReg Eq. 3-4) and the characteristic-function integral of
SIGReg lose 2-3 significant digits in bf16 (8-bit mantissa) and overflow in fp16. The upcast is differentiable,
so the gradient reaching a half-precision input has that input's dtype; float32 and float64 inputs are kept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import torch

P = ParamSpec("P")
R = TypeVar("R")


def upcast(x: Any) -> Any:
    """`x` in at least float32 if it is a floating tensor (float16/bfloat16 -> float32), otherwise unchanged."""
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        return x.to(torch.promote_types(x.dtype, torch.float32))
    return x


def _device_type(values: tuple[Any, ...]) -> str:
    """The device type of the first tensor among `values` ('cpu' if none): the autocast to switch off."""
    return next((v.device.type for v in values if isinstance(v, torch.Tensor)), "cpu")


def float32_loss(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: run `fn` with autocast disabled on its inputs' device and its floating inputs upcast (`upcast`).

    Nested decorated calls are harmless (the second upcast is a no-op).
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with torch.autocast(device_type=_device_type((*args, *kwargs.values())), enabled=False):
            return fn(*(upcast(a) for a in args), **{k: upcast(v) for k, v in kwargs.items()})

    return wrapper
