"""A FIFO feature queue (MoCo's dictionary, SwAV's queue, a kNN bank), updated in place with no host sync."""

from __future__ import annotations

import torch
from torch import nn

from vision_ssl.utils import distributed


class FeatureQueue(nn.Module):
    """The `size` most recent feature vectors (and optional integer labels), overwritten oldest first.

    The queue and its pointer are buffers, so they move with the module and are checkpointed. `push` writes in
    place: push after the backward pass (e.g. in `after_optimizer_step`) when the loss read the queue.

    Args:
        size: vectors kept.
        dim: feature width.
        init: 'randn' (unit random vectors, MoCo's start) or 'zeros'.
        with_labels: also keep a label per vector (-1 until written).
    """

    features: torch.Tensor  # buffers, registered in __init__
    labels: torch.Tensor
    ptr: torch.Tensor
    count: torch.Tensor

    def __init__(self, size: int, dim: int, init: str = "randn", with_labels: bool = False) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise ValueError(f"queue size and dim must be >= 1, got size={size}, dim={dim}")
        if init not in ("randn", "zeros"):
            raise ValueError(f"init must be 'randn' or 'zeros', got {init!r}")
        start = nn.functional.normalize(torch.randn(size, dim), dim=1) if init == "randn" else torch.zeros(size, dim)
        self.register_buffer("features", start)  # (K, D)
        self.register_buffer("labels", torch.full((size if with_labels else 0,), -1, dtype=torch.long))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))  # vectors written so far, capped at size

    @torch.no_grad()
    def push(self, x: torch.Tensor, labels: torch.Tensor | None = None, gather: bool = True) -> None:
        """Write `x` (B, D) (from every rank when `gather`) at the pointer, wrapping around."""
        if gather:
            x = distributed.gather_no_grad(x)
            labels = None if labels is None else distributed.gather_no_grad(labels)
        size = self.features.shape[0]
        x = x[-size:]
        idx = (self.ptr + torch.arange(x.shape[0], device=x.device)) % size
        self.features.index_copy_(0, idx, x.to(self.features.dtype))
        if labels is not None and self.labels.numel():
            self.labels.index_copy_(0, idx, labels[-size:].to(self.labels.device))
        self.ptr.copy_((self.ptr + x.shape[0]) % size)
        self.count.copy_((self.count + x.shape[0]).clamp(max=size))
