"""LeJEPA (Balestriero & LeCun 2025, "LeJEPA: Provable and Scalable Self-Supervised Learning Without the
Heuristics", arXiv:2511.08544).

Backbone + projector, trained on V views of each image (multi-crop: global crops first) by two terms only
(`lejepa_loss`): every view's projection is pulled to the mean projection of the image's global views (the
prediction / invariance term), and SIGReg pushes the projections of each view towards an isotropic Gaussian
(the Epps-Pulley statistic on random 1-D projections, resampled every step). Nothing else: no teacher, no EMA,
no stop-gradient, no predictor network; gradients flow through every view and both terms. The directions are
drawn from a generator seeded with the global step, so every rank uses the same ones (as in the paper).
The online probe reads the backbone features of the first global view.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vision_ssl.backbones.multicrop import forward_multicrop
from vision_ssl.heads.mlp import mlp
from vision_ssl.losses import lejepa_loss
from vision_ssl.methods.base import SSLMethod, StepOutput, Views
from vision_ssl.transforms.recipes import MultiCropViews


class LeJEPA(SSLMethod):
    """LeJEPA: invariance to the global views' mean plus SIGReg, no teacher.

    Args:
        proj_hidden_dim: projector width (paper's minimal example: 2048).
        proj_output_dim: embedding width SIGReg acts on (minimal example: 16 on ImageNette; EB-JEPA: 128).
        proj_num_layers: projector linear layers, BatchNorm + ReLU between them (minimal example: 3).
        lambd: lambda, the weight of SIGReg against (1 - lambda) for the invariance term (paper: 0.05).
        num_slices: random directions per step (paper: 256).
        seed: offset of the per-step direction seed (seed + global step).
        **kwargs: `SSLMethod` arguments. `augment` defaults to the paper's multi-crop (2 global crops, scale
            0.3-1; 6 local crops, scale 0.05-0.3); with a recipe that has no `num_global` (e.g. `SimCLRViews`)
            every view counts as global.
    """

    num_views = None  # any number of views, global crops first

    def __init__(
        self,
        proj_hidden_dim: int = 2048,
        proj_output_dim: int = 128,
        proj_num_layers: int = 3,
        lambd: float = 0.05,
        num_slices: int = 256,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "augment"])
        if not 0.0 <= lambd <= 1.0:
            raise ValueError(f"lambd must be in [0, 1], got {lambd}")
        if num_slices < 1 or proj_num_layers < 1:
            raise ValueError(f"need num_slices >= 1 and proj_num_layers >= 1, got {num_slices}, {proj_num_layers}")
        made = getattr(self.augment, "num_views", None)
        self.num_global = int(getattr(self.augment, "num_global", made or 2))
        if made is not None and made < 2:
            raise ValueError(f"LeJEPA needs at least 2 views per image; the recipe {type(self.augment).__name__} "
                             f"makes {made}")
        self.projector = mlp([self.num_features] + [proj_hidden_dim] * (proj_num_layers - 1) + [proj_output_dim])

    def default_augment(self) -> nn.Module:
        return MultiCropViews(num_global=2, num_local=6, global_scale=(0.3, 1.0), local_scale=(0.05, 0.3))

    def ssl_step(self, views: Views, labels: torch.Tensor) -> StepOutput:
        crops, b = views.images, views.images[0].shape[0]
        h = forward_multicrop(self.backbone, crops)  # (V B, F), one pass per view size
        z = self.projector(h).reshape(len(crops), b, -1)  # (V, B, K); BatchNorm over all views
        generator = torch.Generator(device=z.device)
        generator.manual_seed(self.hparams.seed + self.global_step)  # the same directions on every rank
        loss, inv, reg = lejepa_loss(z, min(self.num_global, z.shape[0]), self.hparams.lambd,
                                     self.hparams.num_slices, generator)
        return StepOutput(loss, h[:b], {"invariance": inv.detach(), "sigreg": reg.detach()})
