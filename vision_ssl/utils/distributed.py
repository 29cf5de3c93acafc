"""Distributed helpers that run unchanged in a single CPU process.

`gather` concatenates a tensor from every rank along dim 0 *with* gradients (PyTorch's differentiable
`all_gather`). Its backward sums the incoming gradient over ranks and keeps this rank's slice. Together with DDP's gradient
averaging this gives exactly the gradient of the loss computed on the concatenated global batch; a gather
whose backward keeps only the local gradient (no all-reduce) under-scales gradients by the world size.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_nn


def is_distributed() -> bool:
    """True when a process group is initialised with more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def gather(x: torch.Tensor) -> torch.Tensor:
    """All-gather `x` (same shape on every rank) along dim 0, differentiably; identity in one process.

    `torch.distributed.nn.functional.all_gather` sums the incoming gradients over ranks in its backward (a
    reduce-scatter), which is what makes the 2-process gradient equal the 1-process one (tests/utils/test_distributed.py).
    """
    if not is_distributed():
        return x
    return torch.cat(dist_nn.all_gather(x.contiguous()), dim=0)


def all_reduce_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean of `x` over ranks, without gradients (e.g. DINO's centre, SIGReg's statistics); `x` in one process."""
    if not is_distributed():
        return x
    x = x.detach().clone()
    dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x / dist.get_world_size()


def gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """All-gather without gradients (e.g. keys for a queue, features for kNN)."""
    if not is_distributed():
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.detach().contiguous())
    return torch.cat(parts, dim=0)
