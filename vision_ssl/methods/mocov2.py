"""MoCo v2 (Chen, Fan, Girshick & He 2020, "Improved Baselines with Momentum Contrastive Learning",
arXiv:2003.04297), on MoCo (He et al. 2020, arXiv:1911.05722).

A query encoder (backbone + 2-layer MLP head) and a momentum copy of it, the key encoder, which gets no
gradient and moves by EMA (m = 0.99 here; 0.999 in the paper's 800-epoch ImageNet runs, where a step is a
much smaller fraction of training). The query of view 1 is contrasted with the key of view 2 (positive) and a
FIFO queue of keys from earlier batches (negatives), InfoNCE with t = 0.2 (Eq. 1). The queue is a buffer, so
it is checkpointed and resumes exactly; under DDP the keys of every rank are enqueued, so all ranks hold the
same queue. MoCo's shuffling BN (Sec. 3.3) keeps BatchNorm statistics from leaking which key is the positive:
here the key encoder sees a random permutation of the batch in `key_chunks` sub-batches, each normalised with
its own statistics, so query and key batches never share BN statistics (the single-process form of shuffling
the keys across GPUs).

Keys and key encoder move once per optimizer step (`after_optimizer_step`, before the step's checkpoint): with
`accumulate_grad_batches=k` the keys of all k micro-batches are enqueued together after the step and every
micro-batch reads the same queue, as one step on the k-times larger batch would (whose keys are never its own
negatives, and which are all computed by the key encoder before its EMA move).
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Any

import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn

from vision_ssl.heads.presets import mocov2_projector
from vision_ssl.losses import info_nce_with_queue
from vision_ssl.methods.base import SSLMethod, StepOutput, Views
from vision_ssl.utils.momentum import frozen_copy, update_ema
from vision_ssl.utils.queue import FeatureQueue


class MoCoV2(SSLMethod):
    """MoCo v2: query encoder, EMA key encoder, InfoNCE against a queue of negative keys.

    Args:
        proj_hidden_dim: hidden width of the MLP head (paper: 2048).
        proj_output_dim: embedding width (paper: 128).
        queue_size: number of queued negative keys K (paper: 65536). Keep it below the number of training
            images: a queue longer than an epoch holds stale keys of the very images it contrasts against.
        temperature: InfoNCE temperature (paper: 0.2).
        momentum: EMA momentum of the key encoder (paper: 0.999 on ImageNet; 0.99 suits short runs).
        symmetric: also contrast query 2 with key 1 (not in the paper; 2x the signal per step).
        key_chunks: sub-batches of shuffled keys with separate BN statistics (shuffling BN); 1 disables it.
        **kwargs: `SSLMethod` arguments (backbone, optimizer, ...).
    """

    num_views = 2

    def __init__(
        self,
        proj_hidden_dim: int = 2048,
        proj_output_dim: int = 128,
        queue_size: int = 65536,
        temperature: float = 0.2,
        momentum: float = 0.99,
        symmetric: bool = False,
        key_chunks: int = 2,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "augment"])
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if key_chunks < 1:
            raise ValueError(f"key_chunks must be >= 1, got {key_chunks}")
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.projector = mocov2_projector(self.num_features, proj_hidden_dim, proj_output_dim)
        self.teacher = frozen_copy(nn.Sequential(self.backbone, self.projector))  # the key encoder
        self.queue = FeatureQueue(queue_size, proj_output_dim)  # (K, D) unit keys of past batches
        self.pending_keys: list[torch.Tensor] = []  # keys of this optimizer step's micro-batches, not yet queued

    def on_train_start(self) -> None:
        dataset = getattr(self.trainer.train_dataloader, "dataset", None)
        if not isinstance(dataset, Sized):  # no loader, or a dataset without a length
            return
        num_images = len(dataset)
        if self.hparams.queue_size > num_images:
            rank_zero_warn(
                f"MoCo queue_size={self.hparams.queue_size} exceeds the {num_images} training images: the queue "
                "will hold stale keys of the same images as negatives. Lower model.init_args.queue_size."
            )

    def make_views(self, images: torch.Tensor) -> Views:
        """The two views and the key shuffles of each (`key_perms`, (2, B)), drawn under the per-step view seed, so a
        resumed run shuffles its keys as the unbroken one did."""
        views = super().make_views(images)
        views.extra["key_perms"] = torch.stack([torch.randperm(images.shape[0], device=images.device) for _ in "12"])
        return views

    @torch.no_grad()
    def keys(self, x: torch.Tensor, perm: torch.Tensor | None = None) -> torch.Tensor:
        """Key-encoder outputs (B, D) of a batch, computed on sub-batches shuffled by `perm` (shuffling BN; None:
        a random permutation)."""
        perm = torch.randperm(x.shape[0], device=x.device) if perm is None else perm
        k = torch.cat([self.teacher(c) for c in x[perm].chunk(self.hparams.key_chunks)])
        return k[torch.argsort(perm)]  # back to the input order

    def ssl_step(self, views: Views, labels: torch.Tensor) -> StepOutput:
        x1, x2 = views.images
        h1 = self.backbone(x1)  # (B, F)
        q1 = self.projector(h1)  # (B, D)
        perms = views.extra.get("key_perms", [None, None])
        k2 = self.keys(x2, perms[1])  # (B, D): no gradient through the key encoder
        queue = self.queue.features  # read in place: the keys are enqueued after the optimizer step
        loss = info_nce_with_queue(q1, k2, queue, self.hparams.temperature)
        self.pending_keys.append(k2)
        if self.hparams.symmetric:
            q2 = self.projector(self.backbone(x2))
            k1 = self.keys(x1, perms[0])
            loss = (loss + info_nce_with_queue(q2, k1, queue, self.hparams.temperature)) / 2
            self.pending_keys.append(k1)
        return StepOutput(loss, h1, {})

    def after_optimizer_step(self) -> None:
        for k in self.pending_keys:  # after the backward passes, so the in-place write cannot corrupt their graphs
            self.queue.push(F.normalize(k.float(), dim=1))
        self.pending_keys = []
        update_ema(self.teacher, nn.Sequential(self.backbone, self.projector), self.hparams.momentum)
