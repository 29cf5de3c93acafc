"""Image folders, shards and photo trees that several test files write, and the one-line error check they share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.io import encode_jpeg, write_png

from vision_ssl.data import StreamingImageDataModule

CLASSES = ["ant", "bee", "cat"]


def write_folder(root: Path, n_train: int = 40, n_val: int = 9, seed: int = 0) -> Path:
    """ImageFolder layout of distinct random 16x16 images: mostly PNG, plus JPEGs and one BMP (re-encoded)."""
    g = torch.Generator().manual_seed(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        for i in range(n):
            folder = root / split / CLASSES[i % 3]
            folder.mkdir(parents=True, exist_ok=True)
            img = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8, generator=g)
            if split == "train" and i in (1, 2, 3):
                (folder / f"{i:03d}.jpg").write_bytes(encode_jpeg(img).numpy().tobytes())
            elif split == "train" and i == 4:
                Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / f"{i:03d}.bmp")
            else:
                write_png(img, str(folder / f"{i:03d}.png"))
    return root


def write_shards(folder: Path, out: Path) -> Path:
    """`vision-ssl prepare-data` of `folder` in small chunks (~9 images a chunk: several chunks)."""
    from vision_ssl.cli import main as cli

    cli(["prepare-data", str(folder), str(out), "--chunk-bytes", "8KB"])
    return out


def write_photos(folder: Path, n: int = 80) -> None:
    """`n` photos of mixed formats, modes and sizes, every fifth in the subfolder `holiday/`."""
    rng = np.random.default_rng(0)
    (folder / "holiday").mkdir(parents=True)
    for i in range(n):
        h, w = (int(v) for v in rng.integers(40, 90, 2))
        pixels = (rng.random((h, w, 3)) * 255).astype("uint8")
        image = Image.fromarray(pixels).convert(["RGB", "L", "RGBA"][i % 3])
        ext = ["jpg", "png", "png", "webp"][i % 4] if image.mode != "RGBA" else "png"
        image.save(folder / ("holiday" if i % 5 == 0 else "") / f"img{i}.{ext}")


def key(image: torch.Tensor) -> bytes:
    """An image's pixels as bytes: a set key for 'the same image'."""
    return image.flatten().numpy().tobytes()


def streaming_module(root: Path, **kw) -> StreamingImageDataModule:  # noqa: ANN003
    """A `StreamingImageDataModule` on `root` at test sizes (8x8, batches of 4, 10% val)."""
    args = dict(root=str(root), image_size=8, batch_size=4, num_workers=0, val_fraction=0.1) | kw
    return StreamingImageDataModule(**args)


def one_line_error(excinfo: pytest.ExceptionInfo) -> str:
    """The user-facing message of a raised error, checked to be one line without a traceback."""
    from vision_ssl.cli import user_message

    text = user_message(excinfo.value)
    assert "\n" not in text and "Traceback" not in text, text
    return text
