"""Context encoder: inpainting with a CNN (Pathak, Krähenbühl, Donahue, Darrell & Efros 2016, "Context Encoders:
Feature Learning by Inpainting", arXiv:1604.07379).

Square patches of each (lightly augmented) image are blanked, at random (their "random block" masks, about a
quarter of the image) or in the central region; the backbone encodes the blanked image, a convolutional
decoder reconstructs the whole image, and the L2 loss counts the blanked pixels only (their Eq. 1, via
`masked_mse`). Blanked pixels are set to 0, the dataset mean after normalisation, as in the paper. We leave out
the paper's adversarial term: it sharpens the inpainting but did not help its feature learning (Sec. 5.2 uses
the L2-only encoder for classification transfer).

The evaluated encoder is the backbone on whole, unmasked images: the online probe gets those features,
computed without gradient. An image grid of original, masked input and reconstruction goes to TensorBoard
once per epoch.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn
from torchvision.utils import make_grid

from vision_ssl.heads.pretext import ConvDecoder
from vision_ssl.losses import masked_mse
from vision_ssl.methods.base import SSLMethod, StepOutput, Views
from vision_ssl.methods.step import tensorboard
from vision_ssl.transforms import center_patch_mask, mask_to_pixels, patchify, random_patch_mask
from vision_ssl.transforms.recipes import CropFlipViews
from vision_ssl.utils.seeding import seeded


def log_reconstructions(method: SSLMethod, x: torch.Tensor, masked: torch.Tensor, recon: torch.Tensor, n: int = 8) -> None:
    """Rows of original, masked input and reconstruction (normalised images (B, C, H, W)) to TensorBoard."""
    if (writer := tensorboard(method)) is None:
        return
    rows = [method.normalize.invert(t[:n].detach().float()) for t in (x, masked, recon)]
    grid = make_grid(torch.cat(rows), nrow=rows[0].shape[0])
    writer.add_image("train/reconstruction", grid, method.current_epoch)


class Inpainting(SSLMethod):
    """Context encoder: backbone on the masked image, conv decoder, L2 on the masked pixels.

    Args:
        mask_mode: `random` (random square patches) or `center` (the central square).
        mask_ratio: fraction of patches blanked in `random` mode (paper: about 1/4 of the image).
        mask_patch_size: side of the square patches in pixels; must divide the image size.
        center_fraction: side of the central square as a fraction of the image side (`center` mode; paper 1/2).
        decoder_width: channels of the decoder's last up-convolution.
        probe_every: steps between the online probe's extra pass over the clean view (it has no gradient).
        **kwargs: `SSLMethod` arguments; `augment` defaults to crop (scale 0.5-1) and flip only.
    """

    num_views = 1

    def __init__(
        self,
        mask_mode: Literal["random", "center"] = "random",
        mask_ratio: float = 0.25,
        mask_patch_size: int = 4,
        center_fraction: float = 0.5,
        decoder_width: int = 64,
        probe_every: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        size = self.hparams.image_size
        if mask_mode not in ("random", "center"):
            raise ValueError(f"mask_mode must be 'random' or 'center', got '{mask_mode}'")
        if size % mask_patch_size:
            raise ValueError(f"mask_patch_size={mask_patch_size} must divide image_size={size}")
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "augment"])
        if probe_every < 1:
            raise ValueError(f"probe_every must be >= 1, got {probe_every}")
        self.grid = size // mask_patch_size
        random_patch_mask(1, self.grid**2, mask_ratio)  # validates the ratio now rather than at the first step
        self.decoder = ConvDecoder(self.num_features, self.hparams.in_chans, size, decoder_width)

    def default_augment(self) -> nn.Module:
        return CropFlipViews(crop_scale=(0.5, 1.0))

    def sample_mask(self, batch_size: int, device: torch.device) -> torch.Tensor:
        """(B, N) patch mask, True = blanked."""
        if self.hparams.mask_mode == "center":
            return center_patch_mask(batch_size, self.grid, self.hparams.center_fraction, device)
        return random_patch_mask(batch_size, self.grid**2, self.hparams.mask_ratio, device)

    def make_views(self, images: torch.Tensor) -> Views:
        """The view (B, C, H, W) and its patch mask (B, N), drawn here under the per-step seed."""
        views = super().make_views(images)
        views.extra["mask"] = self.sample_mask(images.shape[0], images.device)
        return views

    def reconstruct(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Loss, masked input and reconstruction (B, C, H, W) of normalised images `x`."""
        p = self.hparams.mask_patch_size
        hidden = mask_to_pixels(mask, p, x.shape[-2], x.shape[-1])  # (B, 1, H, W)
        masked = x.masked_fill(hidden, 0.0)  # 0 = the dataset mean after normalisation
        recon = self.decoder(self.backbone(masked))  # (B, C, H, W)
        return masked_mse(patchify(recon, p), patchify(x, p), mask), masked, recon

    def ssl_step(self, views: Views, labels: torch.Tensor) -> StepOutput:
        (x,) = views.images
        loss, _, _ = self.reconstruct(x, views.extra["mask"])
        return StepOutput(loss, self.occasional_features(x, self.hparams.probe_every))  # whole images for the probe

    def validation_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        out = super().validation_step(batch, batch_idx)
        images, labels = batch
        with seeded(batch_idx, images.device):  # the same masks every epoch
            mask = self.sample_mask(images.shape[0], images.device)
        loss, _, _ = self.reconstruct(images, mask)
        self.log("val/recon_mse", loss, batch_size=labels.shape[0], sync_dist=True)
        return out

    def log_views(self, views: Views, n: int = 8) -> None:
        """Once per epoch (first batch): original, masked input, reconstruction with the visible pixels pasted."""
        if tensorboard(self) is None:
            return
        x, mask = views.images[0][:n], views.extra["mask"][:n]
        was_training = self.training
        self.eval()  # display only: leave BatchNorm statistics untouched
        with torch.no_grad():
            _, masked, recon = self.reconstruct(x, mask)
        self.train(was_training)
        hidden = mask_to_pixels(mask, self.hparams.mask_patch_size, x.shape[-2], x.shape[-1])
        log_reconstructions(self, x, masked, torch.where(hidden, recon, x))
