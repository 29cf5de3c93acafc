"""Rebuild a run from its checkpoint and extract frozen features without augmentation."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from vision_ssl.data.base import ImageDataModule
from vision_ssl.methods.base import SSLMethod
from vision_ssl.methods.restore import import_path, init_kwargs, method_from_checkpoint, random_twin
from vision_ssl.methods.video_base import VideoMethod

__all__ = ["extract_features", "extract_splits", "init_kwargs", "load_run", "random_twin"]


def load_run(
    ckpt_path: str, data: str | None = None, **data_overrides: Any
) -> tuple[SSLMethod | VideoMethod, ImageDataModule]:
    """The method a `vision-ssl fit` checkpoint was trained with, and the labelled data to evaluate it on (see
    `load_run_and_checkpoint`)."""
    model, dm, _ = load_run_and_checkpoint(ckpt_path, data, **data_overrides)
    return model, dm


def load_run_and_checkpoint(
    ckpt_path: str, data: str | None = None, **data_overrides: Any
) -> tuple[SSLMethod | VideoMethod, ImageDataModule, dict[str, Any]]:
    """The method a `vision-ssl fit` checkpoint was trained with, and the labelled data to evaluate it on.

    Args:
        ckpt_path: a checkpoint written by `vision-ssl fit`.
        data: labelled data to evaluate on (a name, folder or shards, see `vision_ssl.data.resolve`), brought to the
            model's image size and channels; None: the data module the checkpoint was trained on.
        **data_overrides: data-module arguments to change (e.g. `root`, `batch_size`, `num_workers`).

    Returns:
        (the method with its trained weights, the data module, the loaded checkpoint dictionary).

    Raises:
        FileNotFoundError: `ckpt_path` does not exist.
        ValueError: the file is empty, truncated, corrupt or not a vision_ssl checkpoint, or the data has no labels.
    """
    model, ckpt = method_from_checkpoint(ckpt_path)
    if not isinstance(model, (SSLMethod, VideoMethod)):  # method_from_checkpoint (image_only) refuses others
        raise ValueError(f"'{ckpt_path}' holds a {type(model).__name__}, which has no image backbone")
    info = ckpt["vision_ssl"]
    if data is None and not isinstance(model, SSLMethod):
        raise ValueError(f"'{ckpt_path}' is a clip method's checkpoint: its frame encoder is evaluated on labelled "
                         "images at its image size; name them with --data (e.g. mnist for Moving MNIST)")
    if data is not None:
        from vision_ssl.data.resolve import data_module

        hp = model.hparams
        dm = data_module(data, **{"image_size": hp.image_size, "channels": hp.in_chans, **data_overrides})
    elif "datamodule" not in info:
        raise ValueError(f"'{ckpt_path}' has no record of its data module; name the labelled data to evaluate on "
                         "(--data NAME_OR_FOLDER)")
    else:
        dm = import_path(info["datamodule"])(**{**init_kwargs(info["datamodule_hparams"]), **data_overrides})
    if dm.num_classes < 2:
        where = f"data '{data}'" if data is not None else f"the data '{ckpt_path}' was trained on"
        raise ValueError(f"{where} has no labels ({type(dm).__name__}); name a labelled dataset to evaluate on with "
                         "--data (a dataset name such as fashion_mnist, a folder of train/<class>/ subfolders, or "
                         "labelled shards)")
    return model, dm, ckpt


@torch.no_grad()
def extract_features(
    backbone: nn.Module, normalize: nn.Module, dataset: Dataset, batch_size: int = 512, device: str | torch.device = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (N, F) and labels (N,) of every image of `dataset`, backbone in eval mode, in dataset order."""
    was_training = backbone.training
    backbone.eval().to(device)
    normalize.to(device)
    feats, labels = [], []
    for images, y in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        feats.append(backbone(normalize(images.to(device))).float().cpu())
        labels.append(torch.as_tensor(y))
    backbone.train(was_training)
    return torch.cat(feats), torch.cat(labels)


def extract_splits(
    backbone: nn.Module, normalize: nn.Module, dm: ImageDataModule, test: bool = False, device: str | torch.device = "cpu"
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Features and labels of the train and val splits of `dm` (and test with `test`), extracted once."""
    dm.setup("fit" if not test else None)
    splits = {"train": dm.train_set, "val": dm.val_set} | ({"test": dm.test_set} if test else {})
    out = {}
    for name, ds in splits.items():
        if ds is None:
            raise RuntimeError(f"{type(dm).__name__}.setup() left no {name} split")
        out[name] = extract_features(backbone, normalize, ds, device=device)
    return out
