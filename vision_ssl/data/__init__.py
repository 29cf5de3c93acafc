"""LightningDataModules yielding uint8 image batches; augmentation runs on the device."""

from vision_ssl.data.base import ImageDataModule, TensorImageDataset
from vision_ssl.data.fake import FakeDataModule
from vision_ssl.data.image_folder import ImageFolderDataModule
from vision_ssl.data.streaming import StreamingImageDataModule
from vision_ssl.data.torchvision_data import (
    CIFAR10DataModule,
    CIFAR100DataModule,
    FashionMNISTDataModule,
    MNISTDataModule,
    STL10DataModule,
)
from vision_ssl.data.unlabeled_folder import UnlabeledFolderDataModule

__all__ = [
    "CIFAR10DataModule",
    "CIFAR100DataModule",
    "FakeDataModule",
    "FashionMNISTDataModule",
    "ImageDataModule",
    "ImageFolderDataModule",
    "MNISTDataModule",
    "STL10DataModule",
    "StreamingImageDataModule",
    "TensorImageDataset",
    "UnlabeledFolderDataModule",
]

from vision_ssl.data.moving_mnist import StochasticMovingMNISTDataModule  # noqa: E402
from vision_ssl.data.video import VideoClipDataModule  # noqa: E402

__all__ += ["StochasticMovingMNISTDataModule", "VideoClipDataModule"]
