"""`EpochSampler`: the training order of every map-style data module (in-memory, files, video clips).

Each epoch draws a new permutation from a generator seeded by (seed, epoch), so two runs with the same seed read the
same batches and every epoch reads different ones. Under DDP the permutation is cut into one disjoint part per rank
(equal lengths, the remainder dropped), so the ranks' parts also change every epoch. On a resumed run the sampler
skips the batches of the current epoch that the interrupted run already trained on, so the resumed run continues
with exactly the batches an unbroken run would see next (one process or several).

It subclasses `DistributedSampler` only so that Lightning recognises it as rank-aware and does not wrap it in its
own distributed sampler. The data modules' samplers read the epoch from the trainer's fit loop when iteration
starts (`current_epoch`), as Lightning's `set_epoch` comes too late on a resumed run (see `__iter__`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.utils.data import DistributedSampler


class EpochSampler(DistributedSampler):
    """Seeded per-epoch shuffle, split across ranks, resumable mid-epoch.

    Args:
        num_samples: size of the dataset.
        batch_size: per-process batch size (the unit of `skip_batches`, and of batches when `batched`).
        seed: run seed; the order of epoch `e` comes from a generator seeded by (seed, e).
        rank: this process's rank.
        world_size: number of processes.
        batched: yield lists of `batch_size` indices (full batches only) instead of single indices.
        skip_batches: asked at the start of every epoch's iteration: batches of this epoch already trained on.
        current_epoch: asked at the start of every epoch's iteration for the epoch (default: the last `set_epoch`).
    """

    def __init__(self, num_samples: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 batched: bool = False, skip_batches: Callable[[], int] | None = None,
                 current_epoch: Callable[[], int | None] | None = None) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
        if batched and num_samples // world_size < batch_size:
            raise ValueError(f"{num_samples} samples split over {world_size} process(es) leave fewer than "
                             f"batch_size={batch_size} per process; lower the batch size or add data")
        # DistributedSampler.__init__ is not called: it would ask torch.distributed for the rank and world size.
        self.num_samples, self.batch_size, self.seed = num_samples, batch_size, seed
        self.rank, self.num_replicas, self.batched = rank, world_size, batched
        self.skip_batches = skip_batches or (lambda: 0)
        self.current_epoch = current_epoch or (lambda: None)
        self.epoch = 0
        self.per_rank = num_samples // world_size

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning before each epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        """Batches per epoch when `batched`, else samples per epoch, of this rank (before any resume skip)."""
        return self.per_rank // self.batch_size if self.batched else self.per_rank

    def order(self, epoch: int) -> torch.Tensor:
        """This rank's sample indices of `epoch`, in the order they are read."""
        g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        perm = torch.randperm(self.num_samples, generator=g)
        return perm[self.rank * self.per_rank : (self.rank + 1) * self.per_rank]

    def __iter__(self) -> Iterator:
        # A generator: the epoch and the resume skip are read at the first `next`, not when the loader's iterator is
        # made. Lightning makes the first one before it restores a checkpoint's loop state (for
        # `estimated_stepping_batches`), and calls `set_epoch` after that. Loader workers draw indices as soon as
        # their iterator is made, so an exact mid-epoch resume needs `num_workers: 0` (each epoch is right anyway).
        epoch = self.current_epoch()
        order = self.order(self.epoch if epoch is None else epoch)[self.skip_batches() * self.batch_size :]
        if not self.batched:
            yield from order.tolist()
            return
        full = len(order) // self.batch_size * self.batch_size
        yield from order[:full].view(-1, self.batch_size).tolist()


def batches_done(trainer: object | None) -> int:
    """Batches of the current epoch already trained on by the run `trainer` resumes (0 when not resuming).

    Lightning restores its loop progress but does not fast-forward data loaders; `EpochSampler` does it. Every rank
    trains the same number of batches per epoch, so the count is the same on all of them.
    """
    fit_loop = getattr(trainer, "fit_loop", None)
    if fit_loop is None or not fit_loop.restarting:
        return 0
    return int(fit_loop.epoch_loop.batch_progress.current.completed)


def train_sampler(datamodule: object, num_samples: int, batch_size: int, seed: int,
                  batched: bool = False) -> EpochSampler:
    """The training order of `datamodule`'s process: new every epoch, a disjoint part per rank, resumable."""
    trainer = getattr(datamodule, "trainer", None)
    rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def epoch() -> int | None:
        fit_loop = getattr(getattr(datamodule, "trainer", None), "fit_loop", None)
        return None if fit_loop is None else int(fit_loop.epoch_progress.current.processed)

    return EpochSampler(num_samples, batch_size, seed, rank, world, batched=batched,
                        skip_batches=lambda: batches_done(getattr(datamodule, "trainer", None)), current_epoch=epoch)
