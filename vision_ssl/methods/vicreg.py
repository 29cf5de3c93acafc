"""VICReg (Bardes, Ponce & LeCun 2022, "VICReg: Variance-Invariance-Covariance Regularization for
Self-Supervised Learning", arXiv:2105.04906).

A shared encoder (backbone + 3-layer expander of 8192 units) embeds both views; the loss (Eq. 6) combines
invariance (MSE between the views, weight 25), variance (a hinge keeping each dimension's std above 1,
weight 25) and covariance (off-diagonal covariances pushed to 0, weight 1). Gradients flow through both
branches; no teacher, no predictor, no stop-gradient, no negatives. Under DDP the variance and covariance
use the global batch (`gather_distributed`), as the reference's FullGatherLayer.
"""

from __future__ import annotations

from typing import Any

import torch

from vision_ssl.heads.presets import vicreg_expander
from vision_ssl.losses import vicreg_terms
from vision_ssl.methods.base import SSLMethod, StepOutput, Views


class VICReg(SSLMethod):
    """VICReg: invariance + variance + covariance regularisation of two views' embeddings.

    Args:
        proj_hidden_dim: hidden width of the expander (paper: 8192).
        proj_output_dim: embedding width (paper: 8192).
        sim_weight: lambda, invariance weight (paper: 25).
        var_weight: mu, variance weight (paper: 25).
        cov_weight: nu, covariance weight (paper: 1).
        gather_distributed: compute the terms over the global batch of every rank.
        **kwargs: `SSLMethod` arguments (backbone, optimizer, ...).
    """

    num_views = 2

    def __init__(
        self,
        proj_hidden_dim: int = 8192,
        proj_output_dim: int = 8192,
        sim_weight: float = 25.0,
        var_weight: float = 25.0,
        cov_weight: float = 1.0,
        gather_distributed: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "augment"])
        self.projector = vicreg_expander(self.num_features, proj_hidden_dim, proj_output_dim)

    def ssl_step(self, views: Views, labels: torch.Tensor) -> StepOutput:
        x1, x2 = views.images
        h1, h2 = self.backbone(x1), self.backbone(x2)  # (B, F) each
        z1, z2 = self.projector(h1), self.projector(h2)  # (B, D)
        inv, var, cov = vicreg_terms(z1, z2, gather_distributed=self.hparams.gather_distributed)
        hp = self.hparams
        loss = hp.sim_weight * inv + hp.var_weight * var + hp.cov_weight * cov
        return StepOutput(loss, h1, {"invariance": inv.detach(), "variance": var.detach(), "covariance": cov.detach()})
