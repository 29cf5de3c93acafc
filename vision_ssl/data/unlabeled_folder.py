"""`UnlabeledFolderDataModule`: every image under a folder, at any depth, for pretraining without labels.

    data:
      class_path: vision_ssl.data.UnlabeledFolderDataModule
      init_args: {root: ~/photos, image_size: 96, batch_size: 256, num_workers: 8}

No class subfolders are needed: files ending in .jpg/.jpeg/.png/.webp/.bmp/.tif/.tiff (any case) are found
recursively and sorted, so the order and the seeded validation carve are the same on every machine. Labels are -1
and `num_classes` is 0 (methods then run without an online probe); the validation images are unlabelled too, for
label-free monitors. There is no test split. Workers decode each file and bring it to `image_size` by the rule of
`vision_ssl.data.image_files`: shorter side resized (antialiased), centre square cropped.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from torch.utils.data import DataLoader

from vision_ssl.data.base import ImageDataModule
from vision_ssl.data.image_files import IMAGE_EXTENSIONS, ImageFileDataset, drop_unreadable, list_images


class UnlabeledFolderDataModule(ImageDataModule):
    """All images under `root` (recursively), labels -1, `num_classes` 0.

    Args:
        skip_corrupt: decode every file when the data is set up and leave unreadable ones out, with a warning
            counting them (listed in `skipped`). By default an unreadable file stops the run with its path.
        upscale_small: upsample images whose shorter side is below `image_size`. By default such an image stops
            the run with its name and size (set this, or lower `image_size`, to train on them).
        *args: `ImageDataModule` positional arguments.
        **kwargs: `ImageDataModule` arguments (`root` is the folder of images).
    """

    num_classes = 0
    name = "unlabelled folder"

    def __init__(self, *args: Any, skip_corrupt: bool = False, upscale_small: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.skip_corrupt, self.upscale_small = skip_corrupt, upscale_small
        self.skipped: list[str] = []
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"image folder '{self.root}' does not exist; set data.init_args.root to a folder "
                                    f"holding image files ({', '.join(IMAGE_EXTENSIONS)}), at any depth")

    def find_images(self) -> list[str]:
        """The image files under `root`, sorted; raises ValueError naming what was found when there are none."""
        images, others = list_images(self.root)
        if images:
            return images
        allowed = ", ".join(IMAGE_EXTENSIONS)
        if not others:
            raise ValueError(f"image folder '{self.root}' is empty; put image files ({allowed}) in it or in subfolders")
        kinds = Counter(os.path.splitext(p)[1].lower() or "(no extension)" for p in others)
        found = ", ".join(f"{n} {ext}" for ext, n in kinds.most_common(5))
        raise ValueError(f"no image files under '{self.root}': found {len(others)} other file(s) ({found}); "
                         f"allowed extensions (any case): {allowed}")

    def load_split(self, split: str) -> ImageFileDataset:
        if split != "train":
            raise self._no_split(split)
        paths = self.find_images()
        if self.skip_corrupt:
            paths, self.skipped = drop_unreadable(paths, self.root)
            if not paths:
                raise ValueError(f"every image under '{self.root}' is unreadable ({len(self.skipped)} files)")
        return ImageFileDataset([(p, -1) for p in paths], self.image_size, self.channels, self.upscale_small)

    def setup(self, stage: str | None = None) -> None:
        super().setup("fit" if stage is None else stage)  # no test split to load alongside

    def test_dataloader(self) -> DataLoader:
        raise self._no_split("test")

    def _no_split(self, split: str) -> ValueError:
        return ValueError(f"{type(self).__name__} has no '{split}' split: its images are unlabelled, so there is "
                          "nothing to test against; evaluate on a labelled data module (e.g. ImageFolderDataModule)")
