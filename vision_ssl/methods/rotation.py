"""Rotation prediction (Gidaris, Singh & Komodakis 2018, "Unsupervised Representation Learning by Predicting
Image Rotations", arXiv:1803.07728).

Every image of the batch is rotated by 0, 90, 180 and 270 degrees (all four in the same batch, their Sec. 2.2
finding; a subset is configurable); the backbone encodes all of them and a classifier head predicts which
rotation was applied, with cross-entropy. Recognising the rotation needs the object's identity, pose and
location, so the backbone learns semantic features. Gradients flow through everything; there is one view,
lightly augmented (random resized crop and flip: no colour changes are needed, the pretext has no colour
shortcut). The probe uses the backbone features of the unrotated images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vision_ssl.heads.pretext import rotation_head
from vision_ssl.methods.base import SSLMethod, StepOutput, Views
from vision_ssl.transforms import rotate_batch
from vision_ssl.transforms.recipes import CropFlipViews


class Rotation(SSLMethod):
    """RotNet: predict k x 90 degree rotations with a classifier on backbone features.

    Args:
        rotations: the multiples of 90 degrees used (paper: all four, 0, 1, 2, 3); 0 must be one of them.
        head_hidden_dim: hidden width of the rotation classifier (0: linear on the features). Default 256: with a
            linear head the last backbone layer specialises to rotation and its features probe worse than random
            weights (tiny net, 256 steps on 4096 Fashion-MNIST images: 0.685 vs 0.707); one hidden layer takes
            that specialisation (0.790), as Gidaris et al. found the layers below the classifier transfer best.
        **kwargs: `SSLMethod` arguments; `augment` defaults to crop (scale 0.5-1) and flip only.
    """

    num_views = 1

    def __init__(self, rotations: Sequence[int] = (0, 1, 2, 3), head_hidden_dim: int = 256, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        rotations = tuple(sorted({int(k) for k in rotations}))  # sorted: class index = position
        if 0 not in rotations or len(rotations) < 2 or any(k not in (0, 1, 2, 3) for k in rotations):
            raise ValueError(f"rotations must be >= 2 distinct values of {{0, 1, 2, 3}} including 0, got {list(rotations)}")
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "augment"])
        self.rotations = rotations
        self.head = rotation_head(self.num_features, len(rotations), head_hidden_dim)


    def default_augment(self) -> nn.Module:
        return CropFlipViews(crop_scale=(0.5, 1.0))

    def pretext(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Loss, accuracy and backbone features (R B, F) of all rotations of `x` (B, C, H, W)."""
        rotated, k = rotate_batch(x, self.rotations)  # (R B, C, H, W), (R B,)
        targets = torch.searchsorted(torch.tensor(self.rotations, device=k.device), k)  # class index of each k
        h = self.backbone(rotated)  # (R B, F); one pass: BatchNorm statistics over all rotations
        logits = self.head(h)
        loss = F.cross_entropy(logits, targets)
        return loss, (logits.argmax(1) == targets).float().mean(), h

    def ssl_step(self, views: Views, labels: torch.Tensor) -> StepOutput:
        (x,) = views.images
        loss, acc, h = self.pretext(x)
        return StepOutput(loss, h[: x.shape[0]], {"pretext_top1": acc})  # block 0: the unrotated images

    def validation_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        images, labels = batch
        _, acc, h = self.pretext(images)  # one pass over all rotations; block 0 is the clean images
        self.log("val/pretext_top1", acc, batch_size=labels.shape[0], sync_dist=True)
        return self.eval_probe(h[: images.shape[0]], labels, self.val_top1, "val")
