"""A data module over a folder of class subfolders: `root/train/<class>/*.jpg` and `root/val/<class>/*.jpg`.

`train/` is split (seeded) into training and validation images for model selection; `val/` is the test
split, used only for final reports (the ImageNet convention). Workers decode each file to uint8, resize the
shorter side to `image_size` and centre-crop; augmentation happens on the device.
"""

from __future__ import annotations

import os

import torch
from lightning.pytorch.utilities import rank_zero_warn
from PIL import Image
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset
from torchvision.io import ImageReadMode, decode_image
from torchvision.transforms.v2 import functional as TF

from vision_ssl.data.base import ImageDataModule, fit_channels, missing_data_error


class ImageFileDataset(torch.utils.data.Dataset):
    """(path, label) samples decoded to uint8 (C, size, size)."""

    def __init__(self, samples: list[tuple[str, int]], size: int, channels: int) -> None:
        self.samples, self.size, self.channels = samples, size, channels

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[i]
        try:
            image = decode_image(path, mode=ImageReadMode.UNCHANGED)  # (C, H, W) uint8
        except (RuntimeError, ValueError) as err:
            raise ValueError(
                f"cannot decode image '{path}': {err}. Remove or replace the file, or set "
                "data.init_args.skip_corrupt: true to skip unreadable images"
            ) from err
        image = TF.resize(image, self.size, antialias=True)  # shorter side -> size
        image = TF.center_crop(image, [self.size, self.size])
        return fit_channels(image, self.channels), label


def readable(path: str) -> bool:
    """True when PIL can parse the file's header and structure (cheap; does not decode every pixel)."""
    try:
        with Image.open(path) as im:
            im.verify()
        return True
    except Exception:  # noqa: BLE001 - any parse failure means unreadable
        return False


class ImageFolderDataModule(ImageDataModule):
    """Images in `root/train/<class>/` and `root/val/<class>/`; `num_classes` is the number of class folders.

    Args:
        skip_corrupt: check every file when the split is loaded and drop unreadable ones, reporting how many
            were skipped. By default an unreadable file stops the run with its path when it is reached.
        *args, **kwargs: `ImageDataModule` arguments.
    """

    name = "ImageFolder"

    def __init__(self, *args, skip_corrupt: bool = False, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.skip_corrupt = skip_corrupt
        self.skipped: dict[str, list[str]] = {}
        train_dir = os.path.join(self.root, "train")
        if not os.path.isdir(train_dir):
            raise missing_data_error(self.name, train_dir, "a folder of class subfolders under train/ and val/")
        self.classes, self.class_to_idx = find_classes(train_dir)
        self.num_classes = len(self.classes)

    def load_split(self, split: str) -> ImageFileDataset:
        folder = os.path.join(self.root, {"train": "train", "test": "val"}[split])
        if not os.path.isdir(folder):
            raise missing_data_error(self.name, folder, "a folder of class subfolders under train/ and val/")
        samples = make_dataset(folder, self.class_to_idx, extensions=IMG_EXTENSIONS)
        if self.skip_corrupt:
            bad = [path for path, _ in samples if not readable(path)]
            if bad:
                self.skipped[split] = bad
                samples = [s for s in samples if s[0] not in set(bad)]
                rank_zero_warn(f"skipped {len(bad)} unreadable image(s) of {folder} (first: {bad[0]})")
        return ImageFileDataset(samples, self.image_size, self.channels)
