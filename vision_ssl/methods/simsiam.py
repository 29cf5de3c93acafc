"""SimSiam (Chen & He 2021, "Exploring Simple Siamese Representation Learning", arXiv:2011.10566).

One shared encoder f (backbone + projector with BN on every layer) and a bottleneck predictor h. The
prediction of one view regresses the projection of the other, symmetrised (Eq. 2):

    L = D(p1, stopgrad(z2)) / 2 + D(p2, stopgrad(z1)) / 2,   D = negative cosine similarity (Eq. 1).

No teacher, no negatives, no momentum: the stop-gradient on the target branch alone prevents collapse
(Sec. 4.1), which is exactly where this file puts it (`.detach()` on z).
"""

from __future__ import annotations

from typing import Any

import torch

from vision_ssl.heads.presets import simsiam_predictor, simsiam_projector
from vision_ssl.losses import negative_cosine_similarity
from vision_ssl.methods.base import SSLMethod, StepOutput, Views


class SimSiam(SSLMethod):
    """SimSiam: shared encoder, predictor, stop-gradient on the target branch.

    Args:
        proj_hidden_dim: hidden width of the projector (paper: 2048).
        proj_output_dim: projection width (paper: 2048).
        proj_num_layers: projector depth (paper: 3 on ImageNet, 2 on CIFAR-10).
        pred_hidden_dim: bottleneck width of the predictor (paper: 512).
        **kwargs: `SSLMethod` arguments (backbone, optimizer, ...).
    """

    num_views = 2

    def __init__(
        self,
        proj_hidden_dim: int = 2048,
        proj_output_dim: int = 2048,
        proj_num_layers: int = 3,
        pred_hidden_dim: int = 512,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "augment"])
        self.projector = simsiam_projector(self.num_features, proj_hidden_dim, proj_output_dim, proj_num_layers)
        self.predictor = simsiam_predictor(proj_output_dim, pred_hidden_dim)

    def ssl_step(self, views: Views, labels: torch.Tensor) -> StepOutput:
        x1, x2 = views.images
        h1, h2 = self.backbone(x1), self.backbone(x2)  # (B, F) each
        z1, z2 = self.projector(h1), self.projector(h2)  # (B, D)
        p1, p2 = self.predictor(z1), self.predictor(z2)  # (B, D)
        loss = negative_cosine_similarity(p1, z2.detach()) / 2 + negative_cosine_similarity(p2, z1.detach()) / 2
        # Collapse monitor (Sec. 4.1): the per-dimension std of normalised z is ~1/sqrt(D) unless collapsed.
        z_std = torch.nn.functional.normalize(z1.detach().float(), dim=1).std(dim=0).mean()
        return StepOutput(loss, h1, {"z_std": z_std})
