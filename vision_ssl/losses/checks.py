"""Argument checks shared by the losses: a pair of inputs of one shape, a positive temperature."""

from __future__ import annotations

import torch


def check_pair(a: torch.Tensor, b: torch.Tensor, names: str = "z1 and z2", shape: str = "(N, D)") -> None:
    """Raise ValueError unless `a` and `b` have the same shape with as many dimensions as `shape` names.

    Args:
        a: first input.
        b: second input.
        names: how the message names the two inputs, e.g. "q and k".
        shape: the expected shape in words, e.g. "(B, N, P)"; its number of letters is the required ndim.
    """
    ndim = len(shape.strip("()").split(","))
    if a.shape != b.shape or a.ndim != ndim:
        raise ValueError(f"{names} must both be {shape} with equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}")


def check_temperature(temperature: float) -> None:
    """Raise ValueError unless the softmax temperature is positive."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
