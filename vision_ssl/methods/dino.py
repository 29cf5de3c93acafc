"""DINO (Caron et al. 2021, "Emerging Properties in Self-Supervised Vision Transformers", arXiv:2104.14294).

Self-distillation without labels. Student = backbone + `DINOHead`; teacher = EMA copy of both, its momentum
raised from 0.996 to 1 along a half cosine (Sec. 3.1). Multi-crop views (`MultiCropViews`: 2 global crops, then
local crops): the teacher sees only the global crops, the student every crop, and the student's output on each
crop is trained to match the teacher's output on each *other* global crop (`dino_loss`, Eq. 1). The teacher gets
no gradient. Collapse is avoided by centring (an EMA of the teacher's mean output, all-reduced over ranks) and
sharpening (a low teacher temperature, warmed up from 0.04) of the teacher's outputs. The last layer of the
student's head is frozen during the first epoch (its gradients are dropped), which the paper found stabilises
the start of training. Works with a ResNet or a timm ViT backbone (a ViT needs `dynamic_img_size: true` in
`backbone_kwargs` to take the smaller local crops, with both crop sizes multiples of the patch size).

The online probe reads the student's backbone on the first global crop, as for BYOL and MoCo v3 here; the paper
evaluates the teacher, which the EMA keeps close to the student late in training.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vision_ssl.backbones.multicrop import forward_multicrop
from vision_ssl.heads.presets import DINOHead
from vision_ssl.losses import DINOLoss
from vision_ssl.methods.base import SSLMethod, StepOutput, Views
from vision_ssl.transforms.recipes import MultiCropViews
from vision_ssl.utils.momentum import frozen_copy, scheduled_momentum, update_ema


def check_local_crops(backbone: nn.Module, recipe: nn.Module, num_global: int) -> None:
    """A ViT takes the local crops only with `dynamic_img_size` and a local size divisible by its patch."""
    embed, local = getattr(backbone, "patch_embed", None), getattr(recipe, "local_size", None)
    if embed is None or local is None or getattr(recipe, "num_views", num_global) <= num_global:
        return
    patch = embed.patch_size[0]
    if not getattr(backbone, "dynamic_img_size", False) or local % patch:
        raise ValueError(f"local crops of {local} px need a ViT built with backbone_kwargs {{dynamic_img_size: true}} "
                         f"and a local_size divisible by its patch size {patch} (e.g. {max(patch, local // patch * patch)})")


class DINO(SSLMethod):
    """DINO: a student matching a centred, sharpened EMA teacher across multi-crop views.

    Args:
        out_dim: K, the head's output width (paper: 65536; 4096 is enough for CIFAR-size data).
        hidden_dim: head MLP width (paper: 2048).
        bottleneck_dim: head bottleneck (paper: 256).
        head_batch_norm: BatchNorm in the head's hidden layers (reference: off; on helps ResNets a little).
        norm_last_layer: keep the last layer's weight norms at 1 (paper: yes).
        student_temp: tau_s (paper: 0.1).
        warmup_teacher_temp: tau_t at the start (paper: 0.04).
        teacher_temp: tau_t after the warm-up (paper: 0.04; 0.07 for long runs).
        warmup_teacher_temp_epochs: linear warm-up of tau_t, in epochs (paper: 30).
        center_momentum: EMA momentum of the centre (paper: 0.9).
        base_momentum: teacher momentum at the first step (paper: 0.996), raised to `final_momentum` by a cosine.
        final_momentum: teacher momentum at the last step (paper: 1.0).
        freeze_last_layer_epochs: epochs during which the head's last layer gets no update (paper: 1).
        **kwargs: `SSLMethod` arguments. `augment` defaults to `MultiCropViews()` (2 global crops of
            image_size, 6 local crops of 3/7 of it); its first `num_global` views are the teacher's.
    """

    num_views = None  # any number: global crops then local crops
    decay_norm_and_bias = False  # the reference excludes biases and norms from weight decay

    def __init__(
        self,
        out_dim: int = 65536,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        head_batch_norm: bool = False,
        norm_last_layer: bool = True,
        student_temp: float = 0.1,
        warmup_teacher_temp: float = 0.04,
        teacher_temp: float = 0.04,
        warmup_teacher_temp_epochs: float = 30.0,
        center_momentum: float = 0.9,
        base_momentum: float = 0.996,
        final_momentum: float = 1.0,
        freeze_last_layer_epochs: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "augment"])
        if not 0 <= base_momentum <= final_momentum <= 1:
            raise ValueError(f"need 0 <= base_momentum <= final_momentum <= 1, got {base_momentum}, {final_momentum}")
        if freeze_last_layer_epochs < 0:
            raise ValueError(f"freeze_last_layer_epochs must be >= 0, got {freeze_last_layer_epochs}")
        self.num_global = int(getattr(self.augment, "num_global", 2))
        made = getattr(self.augment, "num_views", None)
        if made is not None and made < max(2, self.num_global):
            raise ValueError(f"DINO needs at least 2 views with the {self.num_global} global crops first; the recipe "
                             f"{type(self.augment).__name__} makes {made}")
        check_local_crops(self.backbone, self.augment, self.num_global)
        self.head = DINOHead(self.num_features, out_dim, hidden_dim, bottleneck_dim, batch_norm=head_batch_norm,
                             norm_last_layer=norm_last_layer)
        self.teacher = frozen_copy(nn.Sequential(self.backbone, self.head))  # EMA of the student, no gradient
        self.criterion = DINOLoss(out_dim, student_temp, warmup_teacher_temp, teacher_temp,
                                  warmup_teacher_temp_epochs, center_momentum)  # owns the centre
        self.pending_teacher: list[torch.Tensor] = []  # (B, K) teacher means over crops, per micro-batch

    def default_augment(self) -> nn.Module:
        return MultiCropViews(num_global=2, num_local=6)

    def ssl_step(self, views: Views, labels: torch.Tensor) -> StepOutput:
        crops = views.images
        b, v_t = crops[0].shape[0], self.num_global
        with torch.no_grad():
            teacher = self.teacher(torch.cat(crops[:v_t])).reshape(v_t, b, -1)  # (V_t, B, K): global crops only
        h = forward_multicrop(self.backbone, crops)  # (V B, F), one pass per crop size
        student = self.head(h).reshape(len(crops), b, -1)  # (V, B, K)
        loss = self.criterion(teacher, student, epoch=float(self.current_epoch), update_center=False)
        self.pending_teacher.append(teacher.mean(0))  # the centre moves after the optimizer step
        logs = {"teacher_temp": torch.tensor(self.criterion.temperature(float(self.current_epoch))),
                "momentum": torch.tensor(self.momentum())}
        return StepOutput(loss, h[:b], logs)  # probe: the first global crop

    def momentum(self) -> float:
        """Teacher momentum of the current step: cosine from `base_momentum` to `final_momentum` (Sec. 3.1)."""
        return scheduled_momentum(self, self.hparams.base_momentum, self.hparams.final_momentum)

    def on_after_backward(self) -> None:
        """Freeze the head's last layer for the first epoch(s): its gradients are dropped (set to None, as the
        reference does), so the optimizer skips it entirely (no momentum, no weight decay)."""
        if self.current_epoch < self.hparams.freeze_last_layer_epochs:
            for p in self.head.last_layer.parameters():
                p.grad = None

    def after_optimizer_step(self) -> None:
        """Once per optimizer step: the teacher's EMA (Sec. 3.1) and the centre's (Eq. 4) on the mean over every
        micro-batch of the step, so accumulating k micro-batches moves both as one k-times larger batch would."""
        if self.pending_teacher:
            self.criterion.update_center(torch.cat(self.pending_teacher)[None])  # (1, k B, K)
            self.pending_teacher = []
        update_ema(self.teacher, nn.Sequential(self.backbone, self.head), self.momentum())
