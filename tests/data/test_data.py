"""Data modules: seeded splits, uint8 batches at the configured size, torchvision formats written by the test,
ImageFolder, and clear errors for missing files."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from helpers import fashion_mnist
from torchvision.io import write_png

from vision_ssl.data import (
    CIFAR10DataModule,
    CIFAR100DataModule,
    FakeDataModule,
    ImageFolderDataModule,
    MNISTDataModule,
    STL10DataModule,
)
from vision_ssl.data.base import fit_channels
from vision_ssl.methods import SimCLR


def _indices(subset) -> set[int]:
    return set(subset.indices)


def test_split_is_seeded_disjoint_and_sized():
    a = FakeDataModule(num_samples=100, val_fraction=0.2, seed=1)
    b = FakeDataModule(num_samples=100, val_fraction=0.2, seed=1)
    c = FakeDataModule(num_samples=100, val_fraction=0.2, seed=2)
    for dm in (a, b, c):
        dm.setup("fit")
    assert len(a.val_set) == 20 and len(a.train_set) == 80
    assert not _indices(a.train_set) & _indices(a.val_set)
    assert _indices(a.val_set) == _indices(b.val_set)
    assert _indices(a.val_set) != _indices(c.val_set)


def test_batches_are_uint8_at_configured_size():
    dm = FakeDataModule(num_samples=40, image_size=20, batch_size=8, num_workers=0)
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    assert x.dtype == torch.uint8 and x.shape == (8, 3, 20, 20) and y.shape == (8,)


def test_fashion_mnist_real_files_batch_sliced_gray_kept_for_the_device_and_resized():
    dm = fashion_mnist(max_train_samples=512, image_size=32, batch_size=64)
    dm.setup()
    loader = dm.train_dataloader()
    assert loader.batch_size is None  # in-memory data: one slice per batch, no per-sample collate
    x, y = next(iter(loader))
    assert x.shape == (64, 1, 32, 32) and x.dtype == torch.uint8  # gray crosses to the device as one channel
    assert len(loader) == 512 // 64  # batches, not samples
    rgb, _ = SimCLR(backbone="tiny", image_size=32, mean=[0.5] * 3, std=[0.5] * 3).on_after_batch_transfer((x, y), 0)
    assert rgb.shape == (64, 3, 32, 32) and torch.equal(rgb[:, 0], rgb[:, 2])  # repeated there, then normalised
    order = torch.cat([b for _, b in loader])
    assert len(order) == 512 and order.unique().numel() == 10  # every batch drawn, labels intact
    assert dm.num_classes == 10 and y.max() < 10
    assert len(dm.test_set) == 10_000


def test_fit_channels():
    gray = torch.randint(0, 255, (1, 4, 4), dtype=torch.uint8)
    assert fit_channels(gray, 3).shape == (3, 4, 4)
    rgba = torch.randint(0, 255, (4, 4, 4), dtype=torch.uint8)
    assert torch.equal(fit_channels(rgba, 3), rgba[:3])
    with pytest.raises(ValueError, match="2-channel"):
        fit_channels(torch.zeros(2, 4, 4, dtype=torch.uint8), 3)


@pytest.mark.parametrize("cls,folder", [(MNISTDataModule, "MNIST"), (CIFAR10DataModule, "CIFAR-10")])
def test_missing_files_name_folder_and_command(cls, folder, tmp_path):
    dm = cls(root=str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError) as info:
        dm.setup("fit")
    msg = str(info.value)
    assert str(tmp_path / "nowhere") in msg and folder in msg
    assert "make data" in msg or "download" in msg


def _write_cifar(root, name: str, n: int, num_classes: int, label_key: str, files: dict[str, list[str]]) -> None:
    """Write pickled batches in the CIFAR python format torchvision reads."""
    base = root / name
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for names in files.values():
        for fname in names:
            data = rng.integers(0, 255, (n, 3072), dtype=np.uint8)
            labels = rng.integers(0, num_classes, n).tolist()
            with open(base / fname, "wb") as f:
                pickle.dump({"data": data, label_key: labels}, f)
    meta = "batches.meta" if label_key == "labels" else "meta"
    key = "label_names" if label_key == "labels" else "fine_label_names"
    with open(base / meta, "wb") as f:
        pickle.dump({key: [f"c{i}" for i in range(num_classes)]}, f)


def test_cifar10_and_100_from_files_in_torchvision_format(tmp_path, monkeypatch):
    from torchvision.datasets import cifar

    monkeypatch.setattr(cifar, "check_integrity", lambda *a, **k: True)  # files are ours, not the real md5s
    _write_cifar(tmp_path, "cifar-10-batches-py", 20, 10, "labels",
                 {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]})
    _write_cifar(tmp_path, "cifar-100-python", 50, 100, "fine_labels", {"train": ["train"], "test": ["test"]})
    dm10 = CIFAR10DataModule(root=str(tmp_path), image_size=32, batch_size=8, num_workers=0)
    dm10.setup()
    assert len(dm10.train_set) + len(dm10.val_set) == 100 and len(dm10.test_set) == 20
    x, _ = dm10.train_set[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.uint8
    dm100 = CIFAR100DataModule(root=str(tmp_path), image_size=16, batch_size=8, num_workers=0)
    dm100.setup()
    assert dm100.num_classes == 100 and dm100.train_set[0][0].shape == (3, 16, 16)


def test_stl10_from_files_in_torchvision_format(tmp_path, monkeypatch):
    from torchvision.datasets import stl10

    monkeypatch.setattr(stl10, "check_integrity", lambda *a, **k: True)  # files are ours, not the real md5s
    base = tmp_path / "stl10_binary"
    base.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("test", 6), ("unlabeled", 10)):
        rng.integers(0, 255, (n, 3, 96, 96), dtype=np.uint8).tofile(base / f"{split}_X.bin")
        if split != "unlabeled":
            (rng.integers(1, 11, n).astype(np.uint8)).tofile(base / f"{split}_y.bin")
    (base / "class_names.txt").write_text("\n".join(f"c{i}" for i in range(10)))
    dm = STL10DataModule(root=str(tmp_path), image_size=48, batch_size=4, num_workers=0, unlabeled=True)
    dm.setup()
    labels = torch.stack([dm.train_set[i][1] for i in range(len(dm.train_set))] + [dm.val_set[i][1] for i in range(len(dm.val_set))])
    assert len(labels) == 22 and (labels == -1).sum() == 10  # unlabelled images carry -1
    assert dm.train_set[0][0].shape == (3, 48, 48)


def test_image_folder(tmp_path):
    for split in ("train", "val"):
        for c, name in enumerate(("cat", "dog", "eel")):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for i in range(4):
                img = torch.full((3, 20 + i, 30), 60 * c, dtype=torch.uint8)
                write_png(img, str(folder / f"{i}.png"))
    dm = ImageFolderDataModule(root=str(tmp_path), image_size=16, batch_size=4, num_workers=0, val_fraction=0.25)
    assert dm.num_classes == 3
    dm.setup()
    x, y = dm.test_set[5]
    assert x.shape == (3, 16, 16) and x.dtype == torch.uint8 and y == 1 and int(x[0, 0, 0]) == 60
    assert len(dm.train_set) == 9 and len(dm.val_set) == 3


def test_image_folder_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="train"):
        ImageFolderDataModule(root=str(tmp_path))


@pytest.mark.parametrize("kwargs,match", [
    (dict(image_size=4), "image_size"),
    (dict(channels=2), "channels"),
    (dict(val_fraction=1.5), "val_fraction"),
    (dict(batch_size=0), "batch_size"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FakeDataModule(**kwargs)


def test_batch_larger_than_split_is_explained():
    dm = FakeDataModule(num_samples=16, batch_size=64, num_workers=0)
    dm.setup("fit")
    with pytest.raises(ValueError, match="batch_size=64"):
        dm.train_dataloader()
