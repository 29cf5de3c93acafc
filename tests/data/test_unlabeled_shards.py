"""Shards of a folder without class subfolders, and the streaming loader's order across epochs.

What must hold: `vision-ssl prepare-data` on a flat folder (loose images, nested folders, one subfolder) writes
unlabelled shards (classes [], labels -1) that `StreamingImageDataModule` reads with `num_classes` 0 and labels -1;
folders of two or more classes stay labelled unless `--unlabelled`. Under a Lightning Trainer the training loader
draws a new order each epoch, the same one on every run with the same seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image

from vision_ssl.cli import main as cli
from vision_ssl.data import StreamingImageDataModule
from vision_ssl.data.shards import META_FILE, folder_splits


def write_flat(root: Path, n: int = 24) -> Path:
    """`n` distinct 12x12 images: loose PNGs and JPEGs, more in nested folders, one 16-bit white TIFF."""
    g = np.random.default_rng(0)
    for i in range(n - 1):
        folder = root if i % 3 == 0 else root / f"day{i % 3}" / "raw"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = g.integers(0, 256, (12, 12, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:03d}.{'png' if i % 2 else 'jpg'}")
    Image.fromarray(np.full((12, 12), 65535, np.uint16)).save(root / "white16.tiff")
    return root


@pytest.fixture(scope="module")
def flat_shards(tmp_path_factory) -> Path:
    src = write_flat(tmp_path_factory.mktemp("photos"))
    out = tmp_path_factory.mktemp("shards") / "photos"
    cli(["prepare-data", str(src), str(out), "--chunk-bytes", "4KB"])
    return out


def module(root: Path, **kw) -> StreamingImageDataModule:
    return StreamingImageDataModule(**(dict(root=str(root), image_size=8, batch_size=4, num_workers=0) | kw))


def test_flat_folder_writes_unlabelled_shards(flat_shards, capsys):
    meta = json.loads((flat_shards / META_FILE).read_text())
    assert meta["classes"] == [] and meta["splits"] == {"train": 24}
    dm = module(flat_shards, val_fraction=0.25)
    assert dm.num_classes == 0
    dm.setup("fit")
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (4, 3, 8, 8) and images.dtype == torch.uint8 and labels.tolist() == [-1] * 4
    stored = [dm.shards("train", ids=True)[i] for i in range(24)]
    assert {s[1] for s in stored} == {-1}
    white = next(s[0] for s in stored if s[3] == "white16.tiff")  # 16-bit: scaled to 255, not clipped
    assert white.min() == 255
    with pytest.raises(ValueError, match="no test split"):
        dm.test_dataloader()


def test_layouts_labelled_or_not(tmp_path):
    one = tmp_path / "one" / "holiday"
    one.mkdir(parents=True)
    two = tmp_path / "two"
    for folder in (one, two / "cat", two / "dog"):
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(2):
            Image.new("RGB", (8, 8), (i, 0, 0)).save(folder / f"{i}.png")
    classes, splits = folder_splits(str(tmp_path / "one"))  # one subfolder is no labelling
    assert classes == [] and [it[1:] for it in splits["train"]] == [[-1, 0, "holiday/0.png"], [-1, 1, "holiday/1.png"]]
    classes, splits = folder_splits(str(two))
    assert classes == ["cat", "dog"] and [it[1] for it in splits["train"]] == [0, 0, 1, 1]
    classes, splits = folder_splits(str(two), unlabelled=True)
    assert classes == [] and [it[1] for it in splits["train"]] == [-1] * 4
    Image.new("RGB", (8, 8)).save(two / "loose.png")  # loose images: not a class layout
    classes, splits = folder_splits(str(two))
    assert classes == [] and len(splits["train"]) == 5
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("x")
    with pytest.raises(ValueError, match=r"no images found under '.*notes' \(1 other file\(s\)\); looked for \.jpg"):
        folder_splits(str(tmp_path / "notes"))


class Recorder(L.LightningModule):
    """Records each training batch's images (as bytes) with its epoch; learns nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.seen: dict[int, list[bytes]] = {}

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        self.seen.setdefault(self.current_epoch, []).extend(x.numpy().tobytes() for x in batch[0])
        return self.w.sum() * 0

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def epoch_orders(root: Path, seed: int, workers: int, reload: int = 0) -> dict[int, list[bytes]]:
    model = Recorder()
    trainer = L.Trainer(max_epochs=2, limit_val_batches=0, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                        reload_dataloaders_every_n_epochs=reload)
    trainer.fit(model, datamodule=module(root, seed=seed, num_workers=workers, val_fraction=0.25))
    return model.seen


@pytest.mark.parametrize("workers", [0, 2])
def test_training_order_changes_each_epoch_and_repeats_with_the_seed(flat_shards, workers):
    seen = epoch_orders(flat_shards, seed=0, workers=workers)
    assert sorted(seen) == [0, 1] and len(seen[0]) == len(seen[1]) == 16  # 18 training images, batches of 4
    assert seen[0] != seen[1]
    assert epoch_orders(flat_shards, seed=0, workers=workers) == seen
    assert epoch_orders(flat_shards, seed=1, workers=workers)[0] != seen[0]
    # A loader built afresh each epoch (Lightning's reload_dataloaders_every_n_epochs) draws the same orders.
    assert epoch_orders(flat_shards, seed=0, workers=workers, reload=1) == seen
