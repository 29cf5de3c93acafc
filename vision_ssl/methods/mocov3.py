"""MoCo v3 (Chen, Xie & He 2021, "An Empirical Study of Training Self-Supervised Vision Transformers",
arXiv:2104.02057).

Online encoder = backbone + projector + predictor; momentum encoder = EMA copy of backbone + projector, with
the momentum raised from 0.99 to 1 along a half cosine. No queue: each query is contrasted with the keys of
the same global batch (gathered across ranks, no gradient), symmetrised over the two views (Algorithm 1).
Works with a ResNet or a timm ViT backbone (e.g. `vit_tiny_patch16_224` with
`backbone_kwargs: {img_size: 32, patch_size: 4}`); the paper's ViT recipe also freezes the patch projection,
which `freeze_patch_embed` does.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vision_ssl.heads.presets import mocov3_predictor, mocov3_projector
from vision_ssl.losses import moco_v3_loss
from vision_ssl.methods.base import SSLMethod, StepOutput, Views
from vision_ssl.utils.momentum import frozen_copy, scheduled_momentum, update_ema


class MoCoV3(SSLMethod):
    """MoCo v3: symmetric in-batch InfoNCE between online queries and momentum keys.

    Args:
        proj_hidden_dim: hidden width of projector and predictor (paper: 4096).
        proj_output_dim: embedding width (paper: 256).
        proj_num_layers: projector depth (reference code: 3 for ViT, 2 for ResNet).
        temperature: t (paper: 0.2 for ViT, 1.0 for ResNet-50).
        base_momentum: momentum at the first step (paper: 0.99), raised to `final_momentum` by a half cosine.
        final_momentum: momentum at the last step (paper: 1.0).
        gather_distributed: use the keys of every rank (the paper's global batch).
        freeze_patch_embed: keep a ViT's patch projection at its random init (paper, Sec. 4.2: stabilises ViT).
        **kwargs: `SSLMethod` arguments (backbone, optimizer, ...).
    """

    num_views = 2

    def __init__(
        self,
        proj_hidden_dim: int = 4096,
        proj_output_dim: int = 256,
        proj_num_layers: int = 3,
        temperature: float = 0.2,
        base_momentum: float = 0.99,
        final_momentum: float = 1.0,
        gather_distributed: bool = True,
        freeze_patch_embed: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "augment"])
        if not 0 <= base_momentum <= final_momentum <= 1:
            raise ValueError(f"need 0 <= base_momentum <= final_momentum <= 1, got {base_momentum}, {final_momentum}")
        if freeze_patch_embed:
            patch_embed = getattr(self.backbone, "patch_embed", None)
            if patch_embed is None:
                raise ValueError("freeze_patch_embed=True needs a ViT backbone with a `patch_embed` module")
            patch_embed.requires_grad_(False)
        self.projector = mocov3_projector(self.num_features, proj_hidden_dim, proj_output_dim, proj_num_layers)
        self.predictor = mocov3_predictor(proj_output_dim, proj_hidden_dim)
        self.teacher = frozen_copy(nn.Sequential(self.backbone, self.projector))  # the momentum encoder

    def ssl_step(self, views: Views, labels: torch.Tensor) -> StepOutput:
        x1, x2 = views.images
        h1, h2 = self.backbone(x1), self.backbone(x2)  # (B, F) each; per-view BatchNorm statistics
        q1, q2 = self.predictor(self.projector(h1)), self.predictor(self.projector(h2))  # (B, D)
        with torch.no_grad():
            k1, k2 = self.teacher(x1), self.teacher(x2)  # (B, D): keys get no gradient
        t, gather = self.hparams.temperature, self.hparams.gather_distributed
        loss = moco_v3_loss(q1, k2, t, gather) + moco_v3_loss(q2, k1, t, gather)
        return StepOutput(loss, h1, {"momentum": torch.tensor(self.momentum())})

    def momentum(self) -> float:
        """Momentum of the current step: cosine from `base_momentum` to `final_momentum` over the run."""
        return scheduled_momentum(self, self.hparams.base_momentum, self.hparams.final_momentum)

    def after_optimizer_step(self) -> None:
        update_ema(self.teacher, nn.Sequential(self.backbone, self.projector), self.momentum())
