"""Supervised from scratch: the baseline every self-supervised number should stand beside.

The same backbone, data, view augmentation (one `SimCLRViews` view by default, the SSL methods' family) and
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

from vision_ssl.methods.base import SSLMethod, StepOutput, Views


class Supervised(SSLMethod):
    """Backbone + linear head trained with cross-entropy on augmented labelled views.

    Args:
        label_smoothing: cross-entropy label smoothing (0: plain cross-entropy).
        **kwargs: `SSLMethod` arguments (backbone, optimizer, augment, ...).
    """

    num_views = 1
    needs_labels = True

    def __init__(self, label_smoothing: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "augment"])
        self.head = nn.Linear(self.num_features, self.hparams.num_classes)

    def ssl_step(self, views: Views, labels: torch.Tensor) -> StepOutput:
        """Cross-entropy over every view (labels repeated; unlabelled images, -1, weigh nothing)."""
        h = self.backbone(torch.cat(views.images))  # (V B, F)
        y = labels.repeat(len(views.images))  # (V B,)
        per_image = F.cross_entropy(self.head(h), y.clamp(min=0), reduction="none",
                                    label_smoothing=self.hparams.label_smoothing)
        labelled = (y >= 0).float()
        loss = (per_image * labelled).sum() / labelled.sum().clamp(min=1)  # no boolean indexing: no host sync
        return StepOutput(loss, h[: labels.shape[0]])
