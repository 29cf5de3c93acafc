"""Supervised from scratch: the baseline every self-supervised number should stand beside.

The same backbone, data, view augmentation (one `SimCLRAugment` view by default, the SSL methods' family) and
optimisation budget as the self-supervised runs, but trained with labels: a linear classifier on the backbone
features and cross-entropy (optionally label-smoothed). Its checkpoints go through the same evaluators
(`vision-ssl probe/knn/finetune/report`), so the comparison differs only in the training signal.

Unlabelled images (label -1, STL-10's unlabeled split) carry no signal and are ignored by the loss.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vision_ssl.methods.base import SSLMethod


class Supervised(SSLMethod):
    """Backbone + linear head trained with cross-entropy on augmented labelled views.

    Args:
        label_smoothing: cross-entropy label smoothing (0: plain cross-entropy).
        **kwargs: `SSLMethod` arguments (backbone, optimizer, augment, ...).
    """

    num_views = 1

    def __init__(self, label_smoothing: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.head = nn.Linear(self.num_features, self.hparams.num_classes)

    def supervised_loss(self, views: list[torch.Tensor], labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy over every view (labels repeated); returns (loss, backbone features of views[0])."""
        h = self.backbone(torch.cat(views))  # (V B, F)
        y = labels.repeat(len(views))  # (V B,)
        logits = self.head(h)
        if (y >= 0).any():
            loss = F.cross_entropy(logits, y, ignore_index=-1, label_smoothing=self.hparams.label_smoothing)
        else:
            loss = logits.sum() * 0.0  # an all-unlabelled batch: keep the graph, no signal
        return loss, h[: labels.shape[0]]

    def ssl_step(self, views: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        raise RuntimeError("Supervised needs labels: it trains through `training_step`, not `ssl_step`")

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        # Overridden (unlike the SSL methods) because the loss needs the labels; logging mirrors SSLMethod's.
        views, labels = batch
        loss, features = self.supervised_loss(views, labels)
        probe_loss = self.probe_loss(features, labels, self.train_top1)  # the online probe, for like-for-like logs
        self.monitor.add_train(features, labels)
        bs = labels.shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        self.log("train/probe_loss", probe_loss, batch_size=bs)
        self.log("train/probe_top1", self.train_top1, on_step=False, on_epoch=True, prog_bar=True, batch_size=bs)
        if batch_idx == 0:
            self.log_views(views)
        return loss + probe_loss
