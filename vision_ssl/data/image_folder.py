"""A data module over a folder of class subfolders: `root/train/<class>/*.jpg` and `root/val/<class>/*.jpg`.

`train/` is split (seeded) into training and validation images for model selection; `val/` is the test
split, used only for final reports (the ImageNet convention). Workers decode each file to uint8, resize the
shorter side to `image_size` and centre-crop (`vision_ssl.data.image_files`: JPEG, PNG, WebP, BMP, TIFF, 16-bit
included); augmentation happens on the device.
"""

from __future__ import annotations

import os
from typing import Any

from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

from vision_ssl.data.base import ImageDataModule, missing_data_error
from vision_ssl.data.image_files import ImageFileDataset, drop_unreadable, readable

__all__ = ["ImageFileDataset", "ImageFolderDataModule", "readable"]

_LAYOUT = "a folder of class subfolders under train/ and val/"


class ImageFolderDataModule(ImageDataModule):
    """Images in `root/train/<class>/` and `root/val/<class>/`; `num_classes` is the number of class folders.

    Images smaller than `image_size` are upsampled (`UnlabeledFolderDataModule` asks first).

    Args:
        skip_corrupt: check every file when the split is loaded and drop unreadable ones, reporting how many
            were skipped. By default an unreadable file stops the run with its path when it is reached.
        *args: `ImageDataModule` positional arguments.
        **kwargs: `ImageDataModule` arguments.
    """

    name = "ImageFolder"

    def __init__(self, *args: Any, skip_corrupt: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.skip_corrupt = skip_corrupt
        self.skipped: dict[str, list[str]] = {}
        train_dir = os.path.join(self.root, "train")
        if not os.path.isdir(train_dir):
            raise missing_data_error(self.name, train_dir, _LAYOUT)
        self.classes, self.class_to_idx = find_classes(train_dir)
        self.num_classes = len(self.classes)

    def load_split(self, split: str) -> ImageFileDataset:
        folder = os.path.join(self.root, {"train": "train", "test": "val"}[split])
        if not os.path.isdir(folder):
            raise missing_data_error(self.name, folder, _LAYOUT)
        if split == "test":
            self._check_same_classes(folder)
        samples = make_dataset(folder, self.class_to_idx, extensions=IMG_EXTENSIONS)
        if self.skip_corrupt:
            kept, bad = drop_unreadable([path for path, _ in samples], folder)
            if bad:
                self.skipped[split] = bad
                keep = set(kept)
                samples = [s for s in samples if s[0] in keep]
        return ImageFileDataset(samples, self.image_size, self.channels)

    def _check_same_classes(self, folder: str) -> None:
        """The evaluation split must have the training split's classes, or label indices would mean other things."""
        try:
            classes = set(find_classes(folder)[0])
        except FileNotFoundError:  # no class folder at all
            classes = set()
        if classes != set(self.classes):
            train_only, eval_only = sorted(set(self.classes) - classes), sorted(classes - set(self.classes))
            raise ValueError(f"the class folders of '{folder}' differ from those of '{os.path.join(self.root, 'train')}': "
                             f"only in train: {train_only or 'none'}; only in {os.path.basename(folder)}: "
                             f"{eval_only or 'none'}. Give both splits the same class folders")
