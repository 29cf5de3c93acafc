"""BYOL (Grill et al. 2020, "Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning",
arXiv:2006.07733).

Online network = backbone + projector + predictor; target network = EMA copy of backbone + projector, with
momentum raised from 0.99 to 1 along a half cosine (Sec. 3.2; the paper starts at 0.996 for 1000 ImageNet
epochs). The online prediction of one view regresses the target projection of the other view; the loss
||p/|p| - z/|z| ||^2 = 2 - 2 cos(p, z) (Eq. 2) is symmetrised over the views (Eq. 3). No negatives: the
predictor and the slowly moving target, which gets no gradient, prevent collapse.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vision_ssl.heads.presets import byol_projector
from vision_ssl.losses import negative_cosine_similarity
from vision_ssl.methods.base import SSLMethod, StepOutput, Views
from vision_ssl.utils.momentum import frozen_copy, scheduled_momentum, update_ema


class BYOL(SSLMethod):
    """BYOL: online predictor regressing an EMA target's projections.

    Args:
        proj_hidden_dim: hidden width of projector and predictor (paper: 4096).
        proj_output_dim: projection width (paper: 256).
        base_momentum: target momentum at the first step (paper: 0.996; 0.99 for short runs).
        final_momentum: target momentum at the last step (paper: 1.0).
        **kwargs: `SSLMethod` arguments (backbone, optimizer, ...).
    """

    num_views = 2

    def __init__(
        self,
        proj_hidden_dim: int = 4096,
        proj_output_dim: int = 256,
        base_momentum: float = 0.99,
        final_momentum: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "augment"])
        if not 0 <= base_momentum <= final_momentum <= 1:
            raise ValueError(f"need 0 <= base_momentum <= final_momentum <= 1, got {base_momentum}, {final_momentum}")
        self.projector = byol_projector(self.num_features, proj_hidden_dim, proj_output_dim)
        self.predictor = byol_projector(proj_output_dim, proj_hidden_dim, proj_output_dim)  # same MLP shape
        self.teacher = frozen_copy(nn.Sequential(self.backbone, self.projector))  # the target network

    def ssl_step(self, views: Views, labels: torch.Tensor) -> StepOutput:
        x1, x2 = views.images
        h1, h2 = self.backbone(x1), self.backbone(x2)  # (B, F) each
        p1, p2 = self.predictor(self.projector(h1)), self.predictor(self.projector(h2))  # (B, D)
        with torch.no_grad():
            t1, t2 = self.teacher(x1), self.teacher(x2)  # (B, D): stop-gradient on the target
        # Eq. 3: L + L~ with L = 2 - 2 cos = 2 + 2 * negative_cosine_similarity
        loss = 4 + 2 * (negative_cosine_similarity(p1, t2) + negative_cosine_similarity(p2, t1))
        return StepOutput(loss, h1, {"momentum": torch.tensor(self.momentum())})

    def momentum(self) -> float:
        """Target momentum of the current step (Sec. 3.2: 1 - (1 - base) (cos(pi k / K) + 1) / 2)."""
        return scheduled_momentum(self, self.hparams.base_momentum, self.hparams.final_momentum)

    def after_optimizer_step(self) -> None:
        update_ema(self.teacher, nn.Sequential(self.backbone, self.projector), self.momentum())
