"""Barlow Twins (Zbontar, Jing, Misra, LeCun & Deny 2021, "Barlow Twins: Self-Supervised Learning via
Redundancy Reduction", arXiv:2103.03230).

A shared encoder (backbone + 3-layer projector of 8192 units) embeds both views; the loss (Eq. 1) drives the
cross-correlation matrix of the batch-standardised embeddings (Eq. 2) to the identity: diagonal to 1
(invariance), off-diagonal to 0 (redundancy reduction) with weight lambda = 5e-3. Gradients flow through both
branches; there is no teacher, predictor or stop-gradient. Under DDP the correlation is taken over the
global batch (`gather_distributed`), as the reference's all-reduced C.
"""

from __future__ import annotations

from typing import Any

import torch

from vision_ssl.heads.presets import barlow_twins_projector
from vision_ssl.losses import barlow_twins_loss
from vision_ssl.methods.base import SSLMethod, StepOutput, Views


class BarlowTwins(SSLMethod):
    """Barlow Twins: cross-correlation of two views' embeddings driven to the identity.

    Args:
        proj_hidden_dim: hidden width of the projector (paper: 8192).
        proj_output_dim: embedding width (paper: 8192).
        lambda_offdiag: weight of the off-diagonal term (paper: 5e-3).
        gather_distributed: standardise and correlate over the global batch of every rank.
        **kwargs: `SSLMethod` arguments (backbone, optimizer, ...).
    """

    num_views = 2

    def __init__(
        self,
        proj_hidden_dim: int = 8192,
        proj_output_dim: int = 8192,
        lambda_offdiag: float = 5e-3,
        gather_distributed: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "augment"])
        if lambda_offdiag < 0:
            raise ValueError(f"lambda_offdiag must be >= 0, got {lambda_offdiag}")
        self.projector = barlow_twins_projector(self.num_features, proj_hidden_dim, proj_output_dim)

    def ssl_step(self, views: Views, labels: torch.Tensor) -> StepOutput:
        x1, x2 = views.images
        h1, h2 = self.backbone(x1), self.backbone(x2)  # (B, F) each
        z1, z2 = self.projector(h1), self.projector(h2)  # (B, D)
        loss = barlow_twins_loss(z1, z2, self.hparams.lambda_offdiag, self.hparams.gather_distributed)
        return StepOutput(loss, h1, {})
