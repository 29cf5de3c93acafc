"""Input checks shared by the methods: each raises an error that names the bad value and what is allowed."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def check_image_size(backbone: nn.Module, name: str, image_size: int) -> None:
    """A ViT-style backbone (timm `patch_embed`) needs a side divisible by its patch and equal to its img_size."""
    embed = getattr(backbone, "patch_embed", None)
    if embed is None or not hasattr(embed, "patch_size"):
        return
    patch = embed.patch_size[0] if isinstance(embed.patch_size, tuple | list) else int(embed.patch_size)
    if image_size % patch != 0:
        raise ValueError(
            f"image_size={image_size} is not divisible by the patch size {patch} of backbone '{name}'; "
            f"use a multiple of {patch} (e.g. {max(patch, image_size // patch * patch)}) or another patch_size"
        )
    expected = getattr(embed, "img_size", None)
    if expected is not None and tuple(expected) != (image_size, image_size) and getattr(embed, "strict_img_size", True):
        raise ValueError(
            f"backbone '{name}' was built for {tuple(expected)} images but image_size={image_size}; "
            f"set model.init_args.backbone_kwargs.img_size: {image_size}"
        )


def check_batch_size(batch_size: int, minimum: int, method: str) -> None:
    """The per-process batch must hold at least `minimum` images (pairs to contrast, BatchNorm statistics)."""
    if batch_size < minimum:
        raise ValueError(
            f"per-process batch size {batch_size} is too small for {method}: it needs at least {minimum} images "
            "per process (BatchNorm statistics and the loss's negatives); raise data.init_args.batch_size"
        )


def check_finite(loss: torch.Tensor, terms: dict[str, Any], step: int) -> None:
    """Stop the run on a NaN/inf loss, naming the step and the loss terms; the last good checkpoint is kept."""
    if not bool(torch.isfinite(loss.detach())):
        detail = ", ".join(f"{k}={float(v):.4g}" for k, v in terms.items())
        raise FloatingPointError(
            f"non-finite loss {float(loss):.4g} at global step {step} ({detail or 'no extra terms'}); the run stops "
            "here and the last checkpoint written before this step is kept. Lower the learning rate, check the "
            "data, or resume from it with --ckpt_path last."
        )


def check_checkpoint_method(checkpoint: dict[str, Any], cls: type) -> None:
    """A checkpoint written by one method cannot be loaded into another."""
    written_by = checkpoint.get("vision_ssl", {}).get("method")
    expected = f"{cls.__module__}.{cls.__qualname__}"
    if written_by is not None and written_by != expected:
        raise ValueError(
            f"checkpoint was written by {written_by.rpartition('.')[2]} but this run is {cls.__qualname__}; "
            f"use a {cls.__qualname__} checkpoint or set model.class_path to {written_by}"
        )
