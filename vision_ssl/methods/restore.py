"""Rebuild a trained method from its checkpoint file alone: its class from the `vision_ssl` record, its
constructor arguments from the saved hyper-parameters, its weights from the state dict. No data module is built, so
the training images need not be on disk. The one checkpoint-to-model loader of the evaluators, `vision-ssl embed`
and `vision_ssl.load_encoder`.
"""

from __future__ import annotations

import importlib
from typing import Any, TypeVar

import lightning as L

from vision_ssl.utils.checkpoint import load_checkpoint
from vision_ssl.utils.seeding import seeded

M = TypeVar("M", bound=L.LightningModule)


def import_path(path: str) -> Any:
    """The object named by a dotted import path (`package.module.Name`)."""
    module, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def init_kwargs(hparams: Any) -> dict[str, Any]:
    """Constructor arguments from saved hyper-parameters (drops LightningCLI's private `_class_path` etc.)."""
    return {k: v for k, v in dict(hparams).items() if not k.startswith("_")}


def random_twin(model: M, seed: int = 0) -> M:
    """The same method and architecture as `model`, freshly initialised with `seed` (the random-weights baseline)."""
    with seeded(seed):
        return type(model)(**init_kwargs(model.hparams))


def method_from_checkpoint(path: str, image_only: bool = True) -> tuple[L.LightningModule, dict[str, Any]]:
    """The method a `vision-ssl fit` checkpoint was written by, with its trained weights, and the checkpoint.

    Args:
        path: the checkpoint file.
        image_only: refuse methods without an image backbone (`SSLMethod` subclasses, and the clip methods'
            frame encoders, `VideoMethod.backbone`).

    Returns:
        (model in training mode on the CPU, the loaded checkpoint dictionary).

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: the file is not a checkpoint, has no record of its method, or (with `image_only`) was written by
            a method without an image backbone.
    """
    from vision_ssl.methods.base import SSLMethod
    from vision_ssl.methods.video_base import VideoMethod

    ckpt = load_checkpoint(path)
    method = (ckpt.get("vision_ssl") or {}).get("method")
    if not method or "hyper_parameters" not in ckpt:
        raise ValueError(f"'{path}' is not a vision_ssl training checkpoint (no 'vision_ssl' record of its method); "
                         "give a checkpoint written by `vision-ssl fit` or `vision_ssl.train`")
    cls = import_path(method)
    if image_only and not issubclass(cls, (SSLMethod, VideoMethod)):
        raise ValueError(f"'{path}' was written by {cls.__name__}, which has no image backbone; give a checkpoint of "
                         "an image method (SSLMethod subclasses such as SimCLR, BYOL, MAE)")
    model = cls(**init_kwargs(ckpt["hyper_parameters"]))
    model.load_state_dict(ckpt["state_dict"])
    return model, ckpt
