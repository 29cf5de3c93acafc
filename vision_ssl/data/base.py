"""Shared data-module plumbing: a seeded train/val split carved from the training set, uint8 batches.

Datasets yield `(image, label)` with `image` a uint8 tensor (C, H, W) already at the configured size and
channel count; all augmentation happens on the device. Labels of unlabelled images are -1.
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import BatchSampler, DataLoader, Dataset, Sampler, SequentialSampler, Subset

from vision_ssl.data.sampling import train_sampler


def missing_data_error(name: str, folder: str, command: str = "make data") -> FileNotFoundError:
    return FileNotFoundError(
        f"{name} files not found under '{folder}'. Fetch them with `{command}` "
        f"(or set `data.root` to the folder that holds them)."
    )


def fit_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """(…, C, H, W) uint8 -> `channels` channels: gray is repeated to 3, RGB(A) averaged to 1, alpha dropped."""
    c = x.shape[-3]
    if c == channels:
        return x
    if c == 1 and channels == 3:
        return x.expand(*x.shape[:-3], 3, *x.shape[-2:])
    if c == 4:
        return fit_channels(x[..., :3, :, :], channels)
    if c == 3 and channels == 1:
        return x.float().mean(dim=-3, keepdim=True).round().to(torch.uint8)
    raise ValueError(f"cannot convert {c}-channel images to {channels} channels (allowed: 1 or 3)")


def resize_uint8(x: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """Resize a uint8 batch (N, C, H, W) to (N, C, size, size), bilinear with antialiasing, in chunks."""
    if x.shape[-2:] == (size, size):
        return x
    out = torch.empty((x.shape[0], x.shape[1], size, size), dtype=torch.uint8)
    for i in range(0, x.shape[0], chunk):
        y = F.interpolate(x[i : i + chunk].float(), size=(size, size), mode="bilinear", antialias=True)
        out[i : i + chunk] = y.round().clamp_(0, 255).to(torch.uint8)
    return out


def num_items(dataset: Dataset) -> int:
    """`len(dataset)` of a map-style dataset (torch's `Dataset` declares no `__len__`; ours all define one)."""
    if not isinstance(dataset, Sized):
        raise TypeError(f"{type(dataset).__name__} has no len()")
    return len(dataset)


class TensorImageDataset(Dataset):
    """In-memory uint8 images (N, C, H, W) with labels (N,); channels fixed on access (a view, no copy).

    Indexed with a list of indices (what the data modules' batch loaders ask), it slices the whole batch at once
    instead of collating samples one by one. Gray images for a 3-channel model stay 1-channel here: the model
    repeats them on the device after transfer (`SSLMethod.on_after_batch_transfer`), moving a third of the bytes.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, channels: int) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels, self.channels = images, labels.long(), channels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int | list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = i if isinstance(i, int) else torch.as_tensor(i, dtype=torch.long)
        x = self.images[idx]
        if x.shape[-3] == 1 and self.channels == 3:
            return x, self.labels[idx]  # expanded on the device
        return fit_channels(x, self.channels), self.labels[idx]


def in_memory(dataset: Dataset) -> bool:
    """Whether `dataset` (or the dataset under its `Subset`s) is a `TensorImageDataset`."""
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return isinstance(dataset, TensorImageDataset)


class ImageDataModule(L.LightningDataModule):
    """Base of the image data modules: subclasses set `num_classes` and implement `load_split`.

    Args:
        root: folder holding the dataset.
        image_size: side length images are resized to (before on-device augmentation).
        channels: channels given to the model (grayscale is repeated to 3).
        batch_size: per-process batch size.
        num_workers: data-loader worker processes (decode and crop only).
        val_fraction: fraction of the training split held out (seeded) for model selection.
        max_train_samples: keep only this many (seeded random) training images, for quick runs.
        seed: seed of the train/val split and of the subset.
    """

    num_classes: int = 0
    name: str = "dataset"

    def __init__(
        self,
        root: str = "data",
        image_size: int = 32,
        channels: int = 3,
        batch_size: int = 256,
        num_workers: int = 2,
        val_fraction: float = 0.1,
        max_train_samples: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()  # stored in checkpoints so evaluators can rebuild the same data
        if image_size < 8:
            raise ValueError(f"image_size must be >= 8, got {image_size}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        if max_train_samples is not None and max_train_samples < 2:
            raise ValueError(f"max_train_samples must be >= 2 or null, got {max_train_samples}")
        self.root, self.image_size, self.channels = root, image_size, channels
        self.batch_size, self.num_workers = batch_size, num_workers
        self.val_fraction, self.max_train_samples, self.seed = val_fraction, max_train_samples, seed
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    def load_split(self, split: str) -> Dataset:
        """Return the dataset of `split` ('train' or 'test') yielding (uint8 (C, H, W), label)."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            full = self.load_split("train")
            order = torch.randperm(num_items(full), generator=torch.Generator().manual_seed(self.seed)).tolist()
            n_val = max(1, round(self.val_fraction * num_items(full)))
            train_idx = order[n_val:]
            if self.max_train_samples is not None:
                train_idx = train_idx[: self.max_train_samples]
                n_val = min(n_val, max(1, len(train_idx) // 4))  # keep val in proportion on quick runs
            self.val_set = Subset(full, order[:n_val])
            self.train_set = Subset(full, train_idx)
        if stage in (None, "test") and self.test_set is None:
            self.test_set = self.load_split("test")

    def _loader(self, dataset: Dataset | None, train: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError("call setup() before asking for data loaders")
        if train and num_items(dataset) < self.batch_size:
            raise ValueError(
                f"the training split has {num_items(dataset)} images, fewer than batch_size={self.batch_size}; "
                "lower data.batch_size or raise data.max_train_samples"
            )
        common: dict[str, Any] = dict(num_workers=self.num_workers, pin_memory=torch.cuda.is_available(),
                                      persistent_workers=self.num_workers > 0)
        batched = in_memory(dataset)  # one slice per batch: the sampler yields index lists, nothing is collated
        if train:
            sampler: Sampler = train_sampler(self, num_items(dataset), self.batch_size, self.seed, batched)
            if batched:
                return DataLoader(dataset, sampler=sampler, batch_size=None, **common)
            # full batches only (drop_last): contrastive losses and BatchNorm want them
            return DataLoader(dataset, batch_size=self.batch_size, sampler=sampler, drop_last=True, **common)
        if batched:
            batches = BatchSampler(SequentialSampler(range(num_items(dataset))), self.batch_size, drop_last=False)
            return DataLoader(dataset, sampler=batches, batch_size=None, **common)
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=False, **common)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, train=False)
