"""Data modules over torchvision's own dataset classes and folder layouts (MNIST, Fashion-MNIST, CIFAR, STL-10).

The whole split is read once into a uint8 tensor and resized in bulk; loader workers then only index it.
Files are expected where torchvision puts them (`root/FashionMNIST/raw`, `root/cifar-10-batches-py`, ...);
`make data` fetches MNIST and Fashion-MNIST, and `download: true` lets torchvision fetch the others.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torchvision import datasets

from vision_ssl.data.base import ImageDataModule, TensorImageDataset, missing_data_error, resize_uint8


class _TorchvisionDataModule(ImageDataModule):
    """Loads a torchvision dataset class; `download: true` asks torchvision to fetch missing files."""

    dataset_cls: type = datasets.VisionDataset
    fetch_command = "make data"

    def __init__(self, *args: Any, download: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.download = download

    def _open(self, split: str) -> datasets.VisionDataset:
        return self.dataset_cls(self.root, train=split == "train", download=self.download)

    def prepare_data(self) -> None:
        if self.download:
            for split in ("train", "test"):
                self._open(split)

    def load_split(self, split: str) -> TensorImageDataset:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got '{split}'")
        try:
            ds = self._open(split)
        except RuntimeError as err:  # torchvision: "Dataset not found or corrupted. ..."
            raise missing_data_error(self.name, self.root, self.fetch_command) from err
        images, labels = self._arrays(ds)
        return TensorImageDataset(resize_uint8(images, self.image_size), labels, self.channels)

    @staticmethod
    def _arrays(ds: datasets.VisionDataset) -> tuple[torch.Tensor, torch.Tensor]:
        data = ds.data
        if isinstance(data, np.ndarray):  # CIFAR: (N, H, W, 3)
            images = torch.from_numpy(data).permute(0, 3, 1, 2).contiguous()
        else:  # MNIST family: (N, H, W) uint8 tensor
            images = data.unsqueeze(1)
        return images, torch.as_tensor(ds.targets)


class MNISTDataModule(_TorchvisionDataModule):
    """MNIST (LeCun et al. 1998): 60k/10k 28x28 grayscale digits, 10 classes."""

    dataset_cls = datasets.MNIST
    num_classes = 10
    name = "MNIST"


class FashionMNISTDataModule(_TorchvisionDataModule):
    """Fashion-MNIST (Xiao et al. 2017): 60k/10k 28x28 grayscale clothing images, 10 classes."""

    dataset_cls = datasets.FashionMNIST
    num_classes = 10
    name = "FashionMNIST"


class CIFAR10DataModule(_TorchvisionDataModule):
    """CIFAR-10: 50k/10k 32x32 colour images, 10 classes (`download: true` to fetch)."""

    dataset_cls = datasets.CIFAR10
    num_classes = 10
    name = "CIFAR-10"
    fetch_command = "vision-ssl fit ... --data.download true"


class CIFAR100DataModule(CIFAR10DataModule):
    """CIFAR-100: 50k/10k 32x32 colour images, 100 fine classes."""

    dataset_cls = datasets.CIFAR100
    num_classes = 100
    name = "CIFAR-100"


class STL10DataModule(_TorchvisionDataModule):
    """STL-10: 5k labelled train, 8k test and (optionally) 100k unlabelled 96x96 images, 10 classes.

    With `unlabeled: true` the training split is train+unlabeled; unlabelled images carry label -1, which
    the online probe ignores. Set `image_size: 96` for the native resolution.
    """

    dataset_cls = datasets.STL10
    num_classes = 10
    name = "STL-10"
    fetch_command = "vision-ssl fit ... --data.download true"

    def __init__(self, *args: Any, unlabeled: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unlabeled = unlabeled

    def _open(self, split: str) -> datasets.VisionDataset:
        name = "test" if split == "test" else ("train+unlabeled" if self.unlabeled else "train")
        return datasets.STL10(self.root, split=name, download=self.download)

    @staticmethod
    def _arrays(ds: datasets.VisionDataset) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(ds.data), torch.as_tensor(ds.labels).long()
