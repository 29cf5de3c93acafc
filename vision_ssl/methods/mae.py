"""Masked autoencoder (He, Chen, Xie, Li, Dollár & Girshick 2021, "Masked Autoencoders Are Scalable Vision
Learners", arXiv:2111.06377) with a timm ViT.

A random 75% of the patches is hidden (uniform sampling, exactly the same count per image). The ViT encoder
sees only the visible patches (with their position embeddings and the class token), gathered by index through
the ViT token API (`vision_ssl.backbones.vit_tokens`): no mask tokens enter the encoder, which is what makes MAE
cheap, and no boolean indexing syncs the step with the host. A light decoder (`MAEDecoder`) puts a shared mask token at every hidden
position and predicts the pixels of every patch; the loss is the MSE on the hidden patches only, against
per-patch normalised pixels (`norm_pix`, the paper's better target). The class token's encoder output joins the
decoder's sequence, as in the paper's code and LightlySSL's, and predicts nothing; keeping it out trailed
LightlySSL in the parity runs (benchmarks/results/mae_parity_bisect.md).

The evaluated encoder is the same ViT on the full, unmasked image, pooled as timm pools it (class token by
default, `global_pool: avg` through `backbone_kwargs` for the mean of patch tokens): the online probe gets those
features, computed without gradient. An image grid of original, masked input and reconstruction goes to
TensorBoard once per epoch.
"""

from __future__ import annotations

from typing import Any

import torch
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from vision_ssl.backbones.vit_tokens import check_vit, encode_patches, vit_backbone_kwargs
from vision_ssl.heads.mae_decoder import MAEDecoder
from vision_ssl.losses import masked_mse
from vision_ssl.methods.base import SSLMethod, StepOutput, Views
from vision_ssl.methods.inpainting import log_reconstructions
from vision_ssl.methods.step import tensorboard
from vision_ssl.transforms import mask_to_pixels, patchify, random_patch_split, unpatchify
from vision_ssl.transforms.recipes import CropFlipViews
from vision_ssl.utils.seeding import seeded


class MAE(SSLMethod):
    """MAE: ViT encoder on visible patches, light transformer decoder, MSE on hidden patches.

    Args:
        mask_ratio: fraction of patches hidden (paper: 0.75).
        norm_pix: reconstruct per-patch normalised pixels (paper: on, better representations).
        decoder_dim: decoder width (paper: 512).
        decoder_depth: decoder blocks (paper: 8).
        decoder_heads: decoder attention heads (paper: 16).
        probe_every: steps between the online probe's extra pass over the clean view (it has no gradient). That
            pass encodes every patch, 1 / (1 - mask_ratio) = 4 times the tokens of the training pass: every 4 steps
            it took about a quarter of the step time at the parity budget; every 16 steps images/s rose 1.3x
            (benchmarks/results/parity_speed.md). It only feeds the monitoring probe: the encoder trains the same.
        **kwargs: `SSLMethod` arguments. `backbone` must be a timm ViT (default `vit_tiny_patch16_224`);
            `backbone_kwargs.img_size` defaults to `image_size`, set `patch_size` there (e.g. 4 for 28-32 px
            images). `augment` defaults to crop (scale 0.2-1) and flip only.
    """

    num_views = 1
    decay_norm_and_bias = False  # AdamW with weight decay 0.05 on weights only, as the MAE reference code

    backbone: VisionTransformer  # check_vit in __init__

    def __init__(
        self,
        mask_ratio: float = 0.75,
        norm_pix: bool = True,
        decoder_dim: int = 128,
        decoder_depth: int = 2,
        decoder_heads: int = 4,
        probe_every: int = 16,
        **kwargs: Any,
    ) -> None:
        vit_backbone_kwargs(kwargs, "MAE")  # fills kwargs in place
        super().__init__(**kwargs)
        vit = check_vit(self.backbone, "MAE")
        if getattr(vit, "dynamic_img_size", False):
            raise ValueError("MAE masks a fixed patch grid: build the ViT without dynamic_img_size")
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "augment"])
        if probe_every < 1:
            raise ValueError(f"probe_every must be >= 1, got {probe_every}")
        self.patch_size = vit.patch_embed.patch_size[0]
        num_patches = vit.patch_embed.num_patches
        random_patch_split(1, num_patches, mask_ratio)  # validates the ratio now rather than at the first step
        patch_dim = self.patch_size**2 * self.hparams.in_chans
        self.decoder = MAEDecoder(vit.embed_dim, num_patches, patch_dim, decoder_dim, decoder_depth, decoder_heads)

    def default_augment(self) -> nn.Module:
        return CropFlipViews(crop_scale=(0.2, 1.0))  # the paper's crop + flip

    def make_views(self, images: torch.Tensor) -> Views:
        """The view (B, C, H, W), its patch mask (B, N) and visible indices (B, N_vis), drawn under the per-step seed."""
        views = super().make_views(images)
        n = self.decoder.pos_embed.shape[1]
        views.extra["mask"], views.extra["keep"] = random_patch_split(images.shape[0], n, self.hparams.mask_ratio,
                                                                      images.device)
        return views

    def encode_visible(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Encoder on the visible patches only: images (B, C, H, W), visible indices (B, N_vis) -> (B, P + N_vis, D),
        the P prefix (class) tokens first."""
        return encode_patches(self.backbone, x, keep, keep_prefix=True)

    def reconstruct(self, x: torch.Tensor, mask: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss and predicted patches (B, N, p p C) of normalised images `x`, hidden `mask` (B, N) and visible
        indices `keep` (B, N_vis) (one split, from `random_patch_split`)."""
        pred = self.decoder(self.encode_visible(x, keep), keep, self.backbone.num_prefix_tokens)
        return masked_mse(pred, patchify(x, self.patch_size), mask, self.hparams.norm_pix), pred

    def ssl_step(self, views: Views, labels: torch.Tensor) -> StepOutput:
        (x,) = views.images
        loss, _ = self.reconstruct(x, views.extra["mask"], views.extra["keep"])
        return StepOutput(loss, self.occasional_features(x, self.hparams.probe_every))  # full image, as probes see it

    def validation_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        out = super().validation_step(batch, batch_idx)
        images, labels = batch
        with seeded(batch_idx, images.device):  # the same masks every epoch
            mask, keep = random_patch_split(images.shape[0], self.decoder.pos_embed.shape[1], self.hparams.mask_ratio,
                                            images.device)
        loss, _ = self.reconstruct(images, mask, keep)
        self.log("val/recon_mse", loss, batch_size=labels.shape[0], sync_dist=True)
        return out

    def log_views(self, views: Views, n: int = 8) -> None:
        """Once per epoch (first batch): original, masked input, reconstruction with the visible patches pasted."""
        if tensorboard(self) is None:
            return
        x, mask, keep = views.images[0][:n], views.extra["mask"][:n], views.extra["keep"][:n]
        with torch.no_grad():
            _, pred = self.reconstruct(x, mask, keep)
            target = patchify(x, self.patch_size)
            if self.hparams.norm_pix:  # predictions are normalised patches: undo with each patch's own statistics
                mean, std = target.mean(-1, keepdim=True), (target.var(-1, keepdim=True) + 1e-6).sqrt()
                pred = pred * std + mean
        h, w = x.shape[-2:]
        recon = unpatchify(torch.where(mask[..., None], pred, target), self.patch_size, x.shape[1], h, w)
        hidden = mask_to_pixels(mask, self.patch_size, h, w)
        log_reconstructions(self, x, x.masked_fill(hidden, 0.0), recon)
