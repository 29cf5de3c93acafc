"""The LightlySSL side of the peer-parity benchmark for the two EMA-teacher methods with views of their own: DINO
(multi-crop) and I-JEPA (one crop + flip view and multi-block masks from lightly's collate function). Assembled
from lightly's components the way its examples (examples/pytorch/dino.py, ijepa.py) assemble them; trained by
`parity_lightly.train_reference`, which registers them in its `REFERENCES`. What each recipe field means and where
the two sides still differ: `parity_recipes.py`.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.lib.parity_reference import Reference


def _normalize(r: Any) -> dict[str, list[float]]:
    return {"mean": list(r.mean), "std": list(r.std)}


class DINORef(Reference):
    """lightly's DINO example: student backbone + `DINOProjectionHead`, a teacher of both moved by
    `update_momentum` with `cosine_schedule` (per step here, as `BYOLRef`), one forward per crop, the teacher on
    the global crops only, `DINOLoss(..., epoch=...)` (centre and teacher-temperature warm-up inside), then
    `cancel_last_layer_gradients` after the backward pass."""

    decay_norm_and_bias = False  # as vision_ssl's DINO (and lightly's own DINO benchmarks)

    def __init__(self, backbone: nn.Module, r: Any) -> None:
        super().__init__(backbone)
        from lightly.loss import DINOLoss
        from lightly.models.modules import DINOProjectionHead
        from lightly.models.utils import deactivate_requires_grad

        def head() -> nn.Module:
            return DINOProjectionHead(backbone.num_features, r.hidden, r.bottleneck, r.out,
                                      batch_norm=r.head_batch_norm, freeze_last_layer=r.freeze_last_layer)

        self.head = head()
        # The example builds the teacher head separately (its weight-normed last layer cannot be deep-copied)
        # and leaves it with its own random init; we load the student's weights into it, so that the teacher
        # starts as a copy of the student, as in DINO's reference code and on the vision_ssl side.
        self.head_t = head()
        self.head_t.load_state_dict(self.head.state_dict())
        self.backbone_t = copy.deepcopy(backbone)
        deactivate_requires_grad(self.backbone_t)
        deactivate_requires_grad(self.head_t)
        self.criterion = DINOLoss(output_dim=r.out, warmup_teacher_temp=r.teacher_temp_start,
                                  teacher_temp=r.teacher_temp, warmup_teacher_temp_epochs=r.teacher_temp_epochs,
                                  student_temp=r.student_temp, center_momentum=r.center_momentum)
        self.m0, self.m1, self.epochs, self.epoch = r.momentum, r.final_momentum, r.epochs, 0

    def before_step(self, step: int, total: int) -> None:
        from lightly.models.utils import update_momentum
        from lightly.utils.scheduler import cosine_schedule

        self.epoch = step * self.epochs // total
        m = cosine_schedule(step, total, self.m0, self.m1)
        update_momentum(self.backbone, self.backbone_t, m=m)
        update_momentum(self.head, self.head_t, m=m)

    def loss(self, *views: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            teacher = [self.head_t(self.backbone_t(v)) for v in views[:2]]  # the 2 global crops
        student = [self.head(self.backbone(v)) for v in views]  # every crop, 28 px and 12 px
        return self.criterion(teacher, student, epoch=self.epoch)

    def after_backward(self) -> None:
        self.head.cancel_last_layer_gradients(current_epoch=self.epoch)


class IJEPARef(Reference):
    """lightly's I-JEPA example on the timm ViT: the context encoder is `MaskedVisionTransformerTIMM` around it
    (timm's own init kept: `weight_initialization` and `pos_embed_initialization` 'skip', so both sides start from
    the same weights), the target encoder a frozen copy moved by `update_momentum` on the example's linear
    momentum ramp, `IJEPAPredictorTIMM`, targets layer-normed, gathered with `apply_masks` and
    `repeat_interleave_batch` as the example does; masks from `IJEPAMaskCollator` in the loader."""

    decay_norm_and_bias = False  # as vision_ssl's I-JEPA (and the I-JEPA reference code)

    def __init__(self, backbone: nn.Module, r: Any) -> None:
        from lightly.models.modules import IJEPAPredictorTIMM, MaskedVisionTransformerTIMM
        from lightly.models.utils import deactivate_requires_grad

        super().__init__(MaskedVisionTransformerTIMM(vit=backbone, weight_initialization="skip",
                                                     pos_embed_initialization="skip"))
        self.target = copy.deepcopy(self.backbone)
        deactivate_requires_grad(self.target)
        self.predictor = IJEPAPredictorTIMM(num_patches=backbone.patch_embed.num_patches, depth=r.predictor_depth,
                                            mlp_dim=backbone.embed_dim, predictor_embed_dim=r.predictor_dim,
                                            num_heads=r.predictor_heads)
        self.criterion = nn.MSELoss() if r.jepa_loss == "mse" else nn.SmoothL1Loss()
        self.m0, self.m1 = r.momentum, r.final_momentum

    @property
    def encoder(self) -> nn.Module:
        return self.target.vit  # the EMA target encoder, timm's forward (mean-pooled), as vision_ssl scores it

    def before_step(self, step: int, total: int) -> None:
        from lightly.models.utils import update_momentum

        update_momentum(self.backbone, self.target, m=self.m0 + step * (self.m1 - self.m0) / total)

    def unpack(self, batch: Any) -> tuple[Any, ...]:
        (images, _), masks_enc, masks_pred = batch  # the collator's (batch, context masks, target masks)
        return images, masks_enc, masks_pred

    def loss(self, images: torch.Tensor, masks_enc: list[torch.Tensor], masks_pred: list[torch.Tensor]) -> torch.Tensor:
        from lightly.models import utils

        b = len(images)
        with torch.no_grad():
            h = self.target.encode(images)  # (B, N, D): every patch of the full image
            h = F.layer_norm(h, h.shape[-1:])
            h = utils.repeat_interleave_batch(utils.apply_masks(h, masks_pred), b, repeat=len(masks_enc))
        z = torch.cat([self.backbone.encode(images, idx_keep=m) for m in masks_enc])  # (nenc B, K_c, D)
        z = self.predictor(z, masks_enc, masks_pred)  # (npred nenc B, K_t, D)
        return self.criterion(z, h)


def dino_transform(r: Any) -> Any:
    """lightly's DINOTransform with the recipe's crops: 2 global crops of image_size and `num_local` local ones of
    `local_size`, SimCLR's jitter as `MultiCropViews` (saturation 0.8 s rather than DINO's 0.4 s), grayscale,
    flip, no blur, solarisation on the second global crop, the recipe's normalisation."""
    from lightly.transforms import DINOTransform

    return DINOTransform(global_crop_size=r.image_size, global_crop_scale=r.crop_scale, local_crop_size=r.local_size,
                         local_crop_scale=r.local_scale, n_local_views=r.num_local, hf_prob=0.5, vf_prob=0.0,
                         rr_prob=0.0, cj_prob=r.jitter_p, cj_strength=r.jitter_strength, cj_bright=0.8,
                         cj_contrast=0.8, cj_sat=0.8, cj_hue=0.2, random_gray_scale=r.grayscale_p,
                         gaussian_blur=(0.0, 0.0, 0.0), solarization_prob=r.solarize_p, normalize=_normalize(r))


def ijepa_transform(r: Any) -> Any:
    """lightly's IJEPATransform: a random resized crop of scale (crop_scale[0], 1) and a flip, as `CropFlipViews`."""
    from lightly.transforms.ijepa_transform import IJEPATransform

    return IJEPATransform(input_size=r.image_size, min_scale=r.crop_scale[0], normalize=_normalize(r))


def ijepa_collator(r: Any) -> Any:
    """lightly's IJEPAMaskCollator with vision_ssl's multi-block options: one context block (scale context_scale,
    square) and `num_targets` target blocks (target_scale, target_aspect) on the patch grid, none overlapping."""
    from lightly.data import IJEPAMaskCollator

    return IJEPAMaskCollator(input_size=r.image_size, patch_size=r.backbone_kwargs["patch_size"],
                             enc_mask_scale=r.context_scale, pred_mask_scale=r.target_scale,
                             aspect_ratio=r.target_aspect, nenc=1, npred=r.num_targets, min_keep=r.min_context,
                             allow_overlap=False)
