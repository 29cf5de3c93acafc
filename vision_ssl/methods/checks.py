"""Input checks shared by the methods: each raises an error that names the bad value and what is allowed."""

from __future__ import annotations

from typing import Any, Protocol, cast

import torch
from torch import nn

from vision_ssl.utils import distributed


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


class _Resizable(Protocol):
    def set_size(self, size: int) -> None: ...


def check_recipe(recipe: Any, image_size: int, num_views: int | None, method: str) -> nn.Module:
    """A view recipe module that makes `num_views` views (None: any); one without a size gets `image_size`."""
    if not isinstance(recipe, nn.Module):
        raise ValueError(f"model.augment must be a view recipe module, got {recipe!r}; write e.g. "
                         "{class_path: vision_ssl.transforms.SimCLRViews, init_args: {crop_scale: [0.2, 1.0]}}")
    if getattr(recipe, "size", 0) is None:
        cast(_Resizable, recipe).set_size(image_size)  # a recipe without a size follows the data's image_size
    made = getattr(recipe, "num_views", None)
    if num_views is not None and made is not None and made != num_views:
        raise ValueError(f"{method} trains on {num_views} views but the augment recipe {type(recipe).__name__} "
                         f"makes {made}; set its num_views: {num_views}")
    return recipe


def check_batch_size(batch_size: int, minimum: int, method: str) -> None:
    """The per-process batch must hold at least `minimum` images (pairs to contrast, BatchNorm statistics)."""
    if batch_size < minimum:
        raise ValueError(
            f"per-process batch size {batch_size} is too small for {method}: it needs at least {minimum} images "
            "per process (BatchNorm statistics and the loss's negatives); raise data.init_args.batch_size"
        )


def check_num_classes(num_classes: int, needs_labels: bool, method: str) -> None:
    """0 (unlabelled data: no online probe) or at least 2 classes; a method trained on labels needs them."""
    if num_classes == 0 and needs_labels:
        raise ValueError(f"{method} is trained on labels, but the data has none (num_classes=0); give labelled "
                         "data (a folder of class subfolders, labelled shards or a labelled dataset)")
    if num_classes == 1 or num_classes < 0:
        raise ValueError(f"num_classes must be 0 (unlabelled data, no online probe) or >= 2, got {num_classes}")


def check_data_labels(num_classes: int, data_classes: int | None, data_name: str) -> None:
    """The model's probe must not ask for labels the training data does not have."""
    if data_classes == 0 and num_classes:
        raise ValueError(f"the model has num_classes={num_classes} but {data_name} has no labels; set num_classes=0 "
                         "for unlabelled data (the CLI links it from the data) or give labelled data")


def nonfinite_error(what: str) -> FloatingPointError:
    """The error that stops a run whose loss, weights or features went NaN/inf; the last good checkpoint is kept."""
    return FloatingPointError(
        f"{what}; the run stops here and the last checkpoint written before it is kept. Lower the learning "
        "rate, check the data, or resume from that checkpoint with --ckpt_path last."
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


class NonFiniteWatch(nn.Module):
    """Notes the first step whose loss is NaN/inf without a host sync (a device flag); `check` reads it (one sync)
    and raises the non-finite error, naming that step and the loss terms of the latest step."""

    first: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("first", torch.zeros((), dtype=torch.long), persistent=False)  # step + 1; 0: none
        self.terms: dict[str, torch.Tensor] = {}

    def record(self, loss: torch.Tensor, terms: dict[str, torch.Tensor], step: int) -> None:
        bad = (self.first == 0) & ~torch.isfinite(loss.detach())
        self.first.copy_(torch.where(bad, step + 1, self.first))
        self.terms = {"loss": loss.detach(), **{k: v.detach() for k, v in terms.items()}}

    def check(self, step: int) -> None:
        """Raise if any rank flagged a step (every rank calls it at the same point, so all raise together, also
        when DDP does not broadcast rank 0's buffers)."""
        flags = distributed.gather_no_grad(self.first.reshape(1)).tolist()  # (W,): the one host sync
        if first := min((f for f in flags if f), default=0):
            terms = ", ".join(f"{k}={float(v):.4g}" for k, v in self.terms.items())
            raise nonfinite_error(f"non-finite loss at global step {first - 1} (at step {step - 1}: {terms})")


def run_record(module: Any, datamodule: Any, **state: Any) -> dict[str, Any]:
    """What a checkpoint records beside the weights: the method's and data module's classes, the data module's
    arguments and `state` (e.g. the augmentation RNG state)."""
    info = {"method": f"{type(module).__module__}.{type(module).__qualname__}", **state}
    if datamodule is not None:
        info["datamodule"] = f"{type(datamodule).__module__}.{type(datamodule).__qualname__}"
        info["datamodule_hparams"] = dict(datamodule.hparams)
    return info


def read_aug_state(checkpoint: dict[str, Any]) -> tuple[int, int]:
    """(aug_seed, aug_step) of a checkpoint; older checkpoints kept them as buffers in the state dict."""
    state = checkpoint.get("state_dict", {})
    old = {k: int(state.pop(k)) for k in ("aug_seed", "aug_step") if k in state}
    info = {**old, **checkpoint.get("vision_ssl", {})}
    return int(info.get("aug_seed", -1)), int(info.get("aug_step", 0))
