"""Seeded blocks that leave the caller's random state alone."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def seeded(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Run the block with torch's global generators seeded with `seed`; on exit they are as before the block.

    Used for draws that must repeat (the same validation masks every epoch, a resumable augmentation stream, a
    seeded random-weights twin) without shifting the random stream of the training around them.

    Args:
        seed: the seed.
        device: the device the block draws on; a CUDA device's generator is saved and restored too (the CPU
            generator always is).
    """
    devices = [device] if device is not None and device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
