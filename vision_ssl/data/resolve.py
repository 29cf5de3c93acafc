"""One string names the data of a run or an evaluation, as users type it on the command line or in Python.

- a registered name (`vision_ssl.registry.DATAMODULES`: `fashion_mnist`, `cifar10`, `stl10`, ...), read from `root`
  (default `data`);
- a folder or URL of shards written by `vision-ssl prepare-data` (it holds `vision_ssl_shards.json`; URLs always
  name shards);
- a folder with `train/<class>/` subfolders: labelled images (`ImageFolderDataModule`);
- any other folder: unlabelled images found recursively (`UnlabeledFolderDataModule`).
"""

from __future__ import annotations

import os
from typing import Any

from vision_ssl.data.shards import META_FILE
from vision_ssl.data.streaming import is_url

SHARDS = "vision_ssl.data.StreamingImageDataModule"
LABELLED_FOLDER = "vision_ssl.data.ImageFolderDataModule"
UNLABELLED_FOLDER = "vision_ssl.data.UnlabeledFolderDataModule"


def data_spec(data: str) -> tuple[str, dict[str, Any]]:
    """The class path and `root`-style arguments of the data module `data` names (see the module docstring).

    Raises:
        ValueError: `data` is neither a registered name nor an existing folder or URL.
    """
    from vision_ssl.registry import DATAMODULES

    if data in DATAMODULES:
        return DATAMODULES[data], {}
    if is_url(data):
        return SHARDS, {"root": data}
    if not os.path.isdir(data):
        raise ValueError(f"data '{data}' is neither a dataset name ({', '.join(sorted(DATAMODULES))}) nor an "
                         "existing folder (of images, of train/<class>/ subfolders, or of shards)")
    if os.path.isfile(os.path.join(data, META_FILE)):
        return SHARDS, {"root": data}
    if os.path.isdir(os.path.join(data, "train")):
        return LABELLED_FOLDER, {"root": data}
    return UNLABELLED_FOLDER, {"root": data}


def data_module(data: str, **kwargs: Any) -> Any:
    """The data module `data` names, built with `kwargs` (e.g. `image_size`, `channels`, `batch_size`)."""
    import importlib

    class_path, init = data_spec(data)
    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)(**{**init, **kwargs})
