"""SimCLR (Chen, Kornblith, Norouzi & Hinton 2020, "A Simple Framework for Contrastive Learning of Visual
Representations", arXiv:2002.05709).

Two augmented views of each image go through the same backbone f and projection head g; NT-Xent (Eq. 1)
pulls the pair together against the other 2N - 2 views of the (global) batch. Gradients flow through both
views; there is no teacher and no stop-gradient. The backbone features h = f(x), not z = g(h), are what the
probe and downstream tasks use.
"""

from __future__ import annotations

from typing import Any

import torch

from vision_ssl.heads import simclr_projector
from vision_ssl.losses import info_nce
from vision_ssl.methods.base import SSLMethod, StepOutput, Views


class SimCLR(SSLMethod):
    """SimCLR: shared encoder + MLP projector, InfoNCE over 2N views.

    Args:
        proj_hidden_dim: hidden width of the projector (paper: 2048).
        proj_output_dim: output width of the projector (paper: 128).
        temperature: NT-Xent temperature (paper: 0.1 at batch 4096 with LARS; 0.2-0.5 for small batches).
        gather_distributed: use every rank's views as negatives (the paper's global batch).
        **kwargs: `SSLMethod` arguments (backbone, optimizer, ...).
    """

    num_views = 2

    def __init__(
        self,
        proj_hidden_dim: int = 2048,
        proj_output_dim: int = 128,
        temperature: float = 0.1,
        gather_distributed: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "augment"])
        self.projector = simclr_projector(self.num_features, proj_hidden_dim, proj_output_dim)

    def ssl_step(self, views: Views, labels: torch.Tensor) -> StepOutput:
        x1, x2 = views.images
        h = self.backbone(torch.cat([x1, x2]))  # (2B, F): one pass keeps BatchNorm statistics over both views
        z1, z2 = self.projector(h).chunk(2)  # (B, D) each
        loss = info_nce(z1, z2, self.hparams.temperature, self.hparams.gather_distributed)
        return StepOutput(loss, h[: x1.shape[0]])
