"""I-JEPA (Assran et al. 2023, "Self-Supervised Learning from Images with a Joint-Embedding Predictive
Architecture", arXiv:2301.08243).

Prediction in representation space. Per image, multi-block masking (`multiblock_masks`: 4 target blocks of
15-20% of the patches, a context block of 85-100% with the targets removed) chooses patch indices. The target
encoder, an EMA of the context encoder (momentum 0.996 raised linearly to 1, Sec. 4), encodes the full image;
its outputs, layer-normalised without affine parameters, at each target block's patches are the targets, with
no gradient. The context encoder (a timm ViT) sees only the context patches (`vision_ssl.backbones.vit_tokens`).
The narrow `JEPAPredictor` maps the context tokens plus a mask token per target position (fixed sin-cos
positions) to the predicted target representations; the loss is their mean squared (L2) distance to the targets
(Sec. 3; the reference code uses smooth L1, `loss: smooth_l1`). No pixels are reconstructed and there is one
lightly augmented view (crop + flip; Sec. 4 uses no other augmentation).

Which encoder is evaluated: the paper probes the *target* encoder, average-pooling its last-layer outputs
(Sec. 5 / Appendix). So here `backbone`, which every probe, kNN monitor and offline evaluation reads, is the EMA
target encoder, and `context_encoder` is the network the optimizer trains. The online probe gets the target
encoder's pooled features from the pass that makes the targets, at no extra cost.
"""

from __future__ import annotations

import random
from typing import Any

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from vision_ssl.backbones.vit_tokens import check_vit, encode_patches, gather_tokens, vit_backbone_kwargs
from vision_ssl.heads.jepa_predictor import JEPAPredictor
from vision_ssl.methods.base import SSLMethod, StepOutput, Views
from vision_ssl.transforms.multiblock import LAYOUTS, fixed_context_length, multiblock_masks
from vision_ssl.transforms.recipes import CropFlipViews
from vision_ssl.utils import distributed
from vision_ssl.utils.momentum import frozen_copy, scheduled_momentum, update_ema


class IJEPA(SSLMethod):
    """I-JEPA: predict the EMA target encoder's representations of masked blocks from a context block.

    Args:
        predictor_dim: predictor width (paper: 384 with ViT-H encoders; half the encoder width here).
        predictor_depth: predictor blocks (paper: 12 for ViT-H).
        predictor_heads: predictor attention heads.
        num_targets: target blocks per image (paper: 4).
        target_scale: fraction of the patches per target block (paper: 0.15-0.2).
        target_aspect: aspect ratio of the target blocks (paper: 0.75-1.5).
        context_scale: fraction of the patches in the context block (paper: 0.85-1.0).
        min_context: context patches left after removing the targets below which an image's blocks are redrawn.
        base_momentum: target-encoder momentum at the first step (paper: 0.996).
        final_momentum: momentum at the last step, reached linearly (paper: 1.0).
        loss: `mse` (the paper's L2) or `smooth_l1` (the reference code).
        masking: `uniform` (blocks anywhere on the grid; one context length for the run, see below) or
            `reference` (the reference code's block sampler, which LightlySSL's collator also follows: blocks never
            reach the last patch row or column, contexts cut to the batch's minimum by keeping their first
            patches); `vision_ssl.transforms.multiblock` gives the differences.
        **kwargs: `SSLMethod` arguments. `backbone` must be a timm ViT (default `vit_tiny_patch16_224`);
            `backbone_kwargs` defaults to `img_size: image_size`, no class token and average pooling (I-JEPA's
            encoder has no class token); set `patch_size` there (4 for 28-32 px images). `augment` defaults to
            crop (scale 0.3-1) and flip.
    """

    num_views = 1
    decay_norm_and_bias = False  # AdamW, weight decay on weights only, as the reference
    # `SpeedOptions(compile=True)`: the encoders' blocks, which `targets` and `predict` call directly.
    compile_modules = ("backbone.blocks", "context_encoder.blocks")

    backbone: VisionTransformer  # check_vit in __init__

    def __init__(
        self,
        predictor_dim: int = 96,
        predictor_depth: int = 4,
        predictor_heads: int = 4,
        num_targets: int = 4,
        target_scale: tuple[float, float] = (0.15, 0.2),
        target_aspect: tuple[float, float] = (0.75, 1.5),
        context_scale: tuple[float, float] = (0.85, 1.0),
        min_context: int = 4,
        base_momentum: float = 0.996,
        final_momentum: float = 1.0,
        loss: str = "mse",
        masking: str = "uniform",
        **kwargs: Any,
    ) -> None:
        vit_backbone_kwargs(kwargs, "I-JEPA", class_token=False, global_pool="avg")  # fills kwargs in place
        super().__init__(**kwargs)
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "augment"])
        if loss not in ("mse", "smooth_l1"):
            raise ValueError(f"loss must be 'mse' or 'smooth_l1', got '{loss}'")
        if not 0 <= base_momentum <= final_momentum <= 1:
            raise ValueError(f"need 0 <= base_momentum <= final_momentum <= 1, got {base_momentum}, {final_momentum}")
        vit = check_vit(self.backbone, "I-JEPA")
        if getattr(vit, "dynamic_img_size", False):
            raise ValueError("I-JEPA masks a fixed patch grid: build the ViT without dynamic_img_size")
        self.grid = tuple(vit.patch_embed.grid_size)
        if masking not in LAYOUTS:
            raise ValueError(f"masking must be one of {LAYOUTS}, got '{masking}'")
        masks = (num_targets, target_scale, target_aspect, context_scale, min_context)
        if masking == "uniform":  # one context length for the run (validates the options): compiles once
            self.context_length: int | None = fixed_context_length(self.grid, *masks)
        else:  # the reference cuts each batch to its own minimum; one draw validates the options
            self.context_length = None
            multiblock_masks(1, self.grid, random.Random(0), *masks, layout=masking)
        self.context_encoder = vit  # trained by the loss
        self.backbone = frozen_copy(vit)  # the EMA target encoder: evaluated, as in the paper
        self.predictor = JEPAPredictor(vit.embed_dim, self.grid, predictor_dim, predictor_depth, predictor_heads)

    def default_augment(self) -> nn.Module:
        return CropFlipViews(crop_scale=(0.3, 1.0))

    def make_views(self, images: torch.Tensor) -> Views:
        """The view (B, C, H, W) and its keep-indices: `context` (B, K_c) and `targets` (B, M, K_t), drawn on the
        host from a generator seeded like the view recipe (run seed, rank, step), so a resume draws the same.
        K_c is `context_length` in every batch (with `masking: uniform`)."""
        views = super().make_views(images)
        seed = (self.aug_seed * 1_000_003 + distributed.rank() * 7919 + self.aug_step) % (2**63)
        h = self.hparams
        masks = multiblock_masks(images.shape[0], self.grid, random.Random(seed), h.num_targets, h.target_scale,
                                 h.target_aspect, h.context_scale, h.min_context, device=images.device,
                                 context_length=self.context_length, layout=h.masking)
        views.extra.update(context=masks.context, targets=masks.targets)
        return views

    def targets(self, x: torch.Tensor, target_idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer-normed target-encoder outputs at the target patches (B, M, K_t, D), and the target encoder's
        pooled features (B, F) of the full image; no gradient."""
        vit = self.backbone
        b, m, k_t = target_idx.shape
        with torch.no_grad():
            tokens = vit.forward_features(x)  # (B, P + N, D), full image
            features = vit.forward_head(tokens)  # (B, F): timm's pooling (average of the patch tokens)
            patches = F.layer_norm(tokens[:, vit.num_prefix_tokens:], tokens.shape[-1:])  # (B, N, D)
            targets = gather_tokens(patches, target_idx.reshape(b, m * k_t)).reshape(b, m, k_t, -1)
        return targets, features

    def predict(self, x: torch.Tensor, context_idx: torch.Tensor, target_idx: torch.Tensor) -> torch.Tensor:
        """Predicted target representations (B, M, K_t, D) from the context patches of `x` only."""
        context = encode_patches(self.context_encoder, x, context_idx)  # (B, K_c, D)
        return self.predictor(context, context_idx, target_idx)

    def ssl_step(self, views: Views, labels: torch.Tensor) -> StepOutput:
        (x,) = views.images
        context_idx, target_idx = views.extra["context"], views.extra["targets"]
        targets, features = self.targets(x, target_idx)
        pred = self.predict(x, context_idx, target_idx)
        loss_fn = F.mse_loss if self.hparams.loss == "mse" else F.smooth_l1_loss
        loss = loss_fn(pred, targets)
        logs = {"momentum": torch.tensor(self.momentum()),
                "context_patches": torch.tensor(float(context_idx.shape[1]))}
        return StepOutput(loss, features, logs)

    def momentum(self) -> float:
        """Target-encoder momentum of the current step: linear from `base_momentum` to `final_momentum` (Sec. 4)."""
        return scheduled_momentum(self, self.hparams.base_momentum, self.hparams.final_momentum, shape="linear")

    def after_optimizer_step(self) -> None:
        update_ema(self.backbone, self.context_encoder, self.momentum())
