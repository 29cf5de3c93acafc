"""`vision-ssl prepare-data SRC OUT`: an image folder or a torchvision dataset written as LitData shards.

    vision-ssl prepare-data path/to/images shards/mine          # ImageFolder: train/<class>/, val/<class>/
    vision-ssl prepare-data path/to/photos shards/photos        # no class folders: unlabelled, label -1
    vision-ssl prepare-data fashion_mnist shards/fmnist --root data

What `OUT` holds (read by `StreamingImageDataModule` from a local path or a bucket it was copied to):

    OUT/train/                  LitData chunks and their index.json
    OUT/val/                    the test split, when the source has one (ImageFolder `val/`, a dataset's test set)
    OUT/vision_ssl_shards.json  class names, split sizes, source, skipped files; written last, so it means "done"

A sample is `{"image": the file's own JPEG/PNG bytes (other formats re-encoded as PNG, tensors encoded as PNG),
"label": class index or -1, "index": position in the sorted source listing, "name": relative path}`. Images stay
encoded: shards are the size of the source, and decoding happens in the loader workers. Names are stored as UTF-8
bytes: LitData reads a `str` that looks like an image path as the image file itself.

Samples are written in a seeded random order, so every chunk mixes the classes. A killed run resumes where its
last chunk ended (LitData's checkpoints) when the same command is run again; a finished one is left alone.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import shutil
from typing import Any

import torch
from torchvision.datasets.folder import IMG_EXTENSIONS
from tqdm import tqdm

from vision_ssl.data.extras import require
from vision_ssl.data.image_files import IMAGE_EXTENSIONS, decode, list_images, readable, torchvision_codecs
from vision_ssl.data.torchvision_data import (
    CIFAR10DataModule,
    CIFAR100DataModule,
    FashionMNISTDataModule,
    MNISTDataModule,
    STL10DataModule,
)

META_FILE = "vision_ssl_shards.json"
FORMAT = "vision_ssl.shards/1"
TORCHVISION_SOURCES = {  # name -> (data module class, native image side, channels)
    "mnist": (MNISTDataModule, 28, 1),
    "fashion_mnist": (FashionMNISTDataModule, 28, 1),
    "cifar10": (CIFAR10DataModule, 32, 3),
    "cifar100": (CIFAR100DataModule, 32, 3),
    "stl10": (STL10DataModule, 96, 3),
}
_JPEG, _PNG = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"

Item = list[Any]  # [path or row, label, index, name]: JSON-safe, as LitData's checkpoints store the inputs


def _images_under(folder: str, extensions: tuple[str, ...] = IMG_EXTENSIONS) -> list[str]:
    """Image files under `folder` (recursively), sorted."""
    return list_images(folder, extensions)[0]


def _class_folders(folder: str) -> list[str]:
    """Subfolders of `folder` that hold images, sorted; none when images also lie loose in `folder` itself (a class
    layout has no loose images) or when only one holds images (one class is no labelling)."""
    loose = any(e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS) for e in os.scandir(folder))
    classes = sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".") and _images_under(e.path))
    return [] if loose or len(classes) < 2 else classes


def folder_splits(src: str, unlabelled: bool = False) -> tuple[list[str], dict[str, list[Item]]]:
    """Class names and per-split items of a folder: `src/train/<class>/` (+ `src/val/<class>/`) or `src/<class>/`
    (labelled: two or more class folders and no loose images), else every image under `src` or `src/train/` at any
    depth, unlabelled (classes [], labels -1). `unlabelled` ignores class folders."""
    if not os.path.isdir(src):
        raise FileNotFoundError(f"source folder '{src}' does not exist (give an image folder or one of "
                                f"{', '.join(TORCHVISION_SOURCES)})")
    roots = {"train": os.path.join(src, "train"), "val": os.path.join(src, "val")}
    if not os.path.isdir(roots["train"]):
        roots = {"train": src}
    class_dir = roots["train"]
    classes = [] if unlabelled else _class_folders(class_dir)
    splits: dict[str, list[Item]] = {}
    for split, folder in roots.items():
        if not os.path.isdir(folder):
            continue
        if classes:
            pairs = [(p, label) for label, c in enumerate(classes) for p in _images_under(os.path.join(folder, c))]
        else:
            pairs = [(p, -1) for p in _images_under(folder, IMAGE_EXTENSIONS)]
        splits[split] = [[p, label, i, os.path.relpath(p, folder)] for i, (p, label) in enumerate(pairs)]
    if not splits["train"]:
        others = list_images(class_dir)[1]
        raise ValueError(f"no images found under '{class_dir}' ({len(others)} other file(s)); looked for "
                         f"{', '.join(IMAGE_EXTENSIONS)} files (any case) at any depth")
    return classes, splits


def torchvision_splits(name: str, root: str) -> tuple[list[str], dict[str, torch.Tensor], dict[str, list[Item]]]:
    """Class names, uint8 images (N, C, H, W) per split and per-split items of a supported torchvision dataset."""
    dm_cls, size, channels = TORCHVISION_SOURCES[name]
    dm = dm_cls(root=root, image_size=size, channels=channels, num_workers=0)
    images, splits = {}, {}
    for split, source_split in (("train", "train"), ("val", "test")):
        ds = dm.load_split(source_split)  # raises FileNotFoundError naming the fetch command when files are missing
        images[split] = ds.images
        splits[split] = [[i, int(label), i, str(i)] for i, label in enumerate(ds.labels.tolist())]
    classes = getattr(dm_cls.dataset_cls, "classes", None)
    if not isinstance(classes, list) or len(classes) != dm.num_classes:
        classes = [str(i) for i in range(dm.num_classes)]
    return classes, images, splits


def encode_file(path: str) -> bytes:
    """The file's bytes when it is a JPEG or PNG (what every decoder reads), else the image decoded as the data
    modules do (`image_files.decode`: 8-bit, 16-bit scaled, alpha dropped) and encoded as PNG."""
    from torchvision.io import encode_png

    with open(path, "rb") as f:
        raw = f.read()
    if raw.startswith((_JPEG, _PNG)):
        return raw
    with torchvision_codecs():  # torchvision's PNG encoder, kept: see vision_ssl/data/image_files.py
        return encode_png(decode(raw)).numpy().tobytes()


class EncodeSample:
    """LitData `optimize` function: one item -> one sample. Never raises (a raising worker makes LitData hang):
    an image that cannot be encoded is stored empty, and the reader names it."""

    def __init__(self, images: torch.Tensor | None = None) -> None:
        self.images = images  # torchvision sources: the split's uint8 images; folders: None (items are paths)

    def __call__(self, item: Item) -> dict[str, Any]:
        ref, label, index, name = item
        try:
            if self.images is None:
                image = encode_file(ref)
            else:
                from torchvision.io import encode_png

                with torchvision_codecs():
                    image = encode_png(self.images[ref]).numpy().tobytes()
        except Exception:  # noqa: BLE001 - see the class docstring
            image = b""
        return {"image": image, "label": int(label), "index": int(index), "name": str(name).encode()}


def drop_unreadable(items: list[Item], split: str, skip_corrupt: bool) -> tuple[list[Item], list[str]]:
    """Items whose files PIL can parse, checked with a progress bar. An unreadable file stops with its path unless
    `skip_corrupt`, as `ImageFolderDataModule` does."""
    bad: list[str] = []
    for item in tqdm(items, desc=f"checking {split}", unit="img", leave=False):
        if not readable(item[0]):
            if not skip_corrupt:
                raise ValueError(f"cannot read image '{item[0]}'. Remove or replace the file, or pass --skip-corrupt "
                                 "to leave unreadable images out")
            bad.append(item[3])
    skipped = set(bad)
    return [it for it in items if it[3] not in skipped], bad


def split_done(folder: str) -> bool:
    """A split is written when its index.json exists and LitData's resume checkpoints are gone."""
    return os.path.isfile(os.path.join(folder, "index.json")) and not os.path.isdir(os.path.join(folder, ".checkpoints"))


def write_split(items: list[Item], folder: str, fn: EncodeSample, workers: int, chunk_bytes: str) -> None:
    """Write `items` as LitData chunks under `folder`, resuming from LitData's checkpoints there if any."""
    litdata = require("litdata", "writing image shards")
    start = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"  # fork: no re-import per worker
    with contextlib.redirect_stdout(io.StringIO()):  # LitData's chatter (and its advert); the progress bar is stderr
        litdata.optimize(fn, items, output_dir=folder, chunk_bytes=chunk_bytes, num_workers=workers,
                         use_checkpoint=True, reorder_files=False, start_method=start)


def prepare(src: str, out: str, root: str = "data", workers: int = 1, chunk_bytes: str = "64MB", seed: int = 0,
            skip_corrupt: bool = False, overwrite: bool = False, unlabelled: bool = False) -> dict[str, Any]:
    """Write `src` as shards under `out` and return the metadata written to `out/vision_ssl_shards.json`.

    Args:
        src: an image folder, or a name in `TORCHVISION_SOURCES` read from `root`.
        out: output folder (local; copy it to a bucket afterwards to stream from there).
        root: folder of the torchvision datasets (`make data` puts MNIST and Fashion-MNIST there).
        workers: writer processes.
        chunk_bytes: target chunk size, e.g. "64MB".
        seed: seed of the write order.
        skip_corrupt: leave unreadable images out (listed in the metadata) instead of stopping.
        overwrite: delete `out` and write it again.
        unlabelled: write every image of a folder source with label -1, ignoring any class subfolders.
    """
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    meta_path = os.path.join(out, META_FILE)
    if overwrite and os.path.isdir(out):
        shutil.rmtree(out)
    if os.path.isfile(meta_path):
        print(f"prepare-data: '{out}' is already complete (delete it or pass --overwrite to write it again)")
        with open(meta_path) as f:
            return json.load(f)
    if src in TORCHVISION_SOURCES:
        classes, images, splits = torchvision_splits(src, root)
    else:
        classes, splits = folder_splits(src, unlabelled)
        images = {}
        shown = ", ".join(classes[:5]) + (", ..." if len(classes) > 5 else "")
        print(f"prepare-data: {len(classes)} class folders in '{src}' ({shown}); pass --unlabelled to ignore them"
              if classes else f"prepare-data: no class folders in '{src}': writing its images unlabelled (label -1)")
    meta: dict[str, Any] = {"format": FORMAT, "source": src, "classes": classes, "seed": seed, "splits": {}, "skipped": {}}
    for split, items in splits.items():
        if not images:
            items, meta["skipped"][split] = drop_unreadable(items, split, skip_corrupt)
        if not items:
            continue
        order = torch.randperm(len(items), generator=torch.Generator().manual_seed(seed)).tolist()
        folder = os.path.join(out, split)
        if split_done(folder):
            print(f"prepare-data: {split} already written, kept")
        else:
            resuming = os.path.isdir(os.path.join(folder, ".checkpoints"))
            print(f"prepare-data: {'resuming' if resuming else 'writing'} {split} ({len(items)} images) to {folder}")
            write_split([items[i] for i in order], folder, EncodeSample(images.get(split)), workers, chunk_bytes)
        meta["splits"][split] = len(items)
    os.makedirs(out, exist_ok=True)
    with open(meta_path + ".tmp", "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(meta_path + ".tmp", meta_path)
    skipped = sum(len(v) for v in meta["skipped"].values())
    print(f"prepare-data: wrote {meta['splits']} ({len(classes)} classes{f', {skipped} unreadable skipped' if skipped else ''}) to {out}")
    return meta


def main(argv: list[str] | None = None) -> None:
    """`vision-ssl prepare-data SRC OUT [options]`."""
    p = argparse.ArgumentParser(prog="vision-ssl prepare-data", description=__doc__.split("\n\n")[0])
    p.add_argument("src", help=f"image folder, or one of {', '.join(TORCHVISION_SOURCES)} (read from --root)")
    p.add_argument("out", help="output folder for the shards")
    p.add_argument("--root", default="data", help="folder of the torchvision datasets (default: data)")
    p.add_argument("--workers", type=int, default=1, help="writer processes; raise it for large folders on fast disks")
    p.add_argument("--chunk-bytes", default="64MB", help="target chunk size (default 64MB; smaller for tiny sets)")
    p.add_argument("--seed", type=int, default=0, help="seed of the write order (default 0)")
    p.add_argument("--skip-corrupt", action="store_true", help="leave unreadable images out instead of stopping")
    p.add_argument("--overwrite", action="store_true", help="delete OUT and write it again")
    p.add_argument("--unlabelled", action="store_true",
                   help="label every image -1, ignoring class subfolders (e.g. photos sorted into folders by date)")
    a = p.parse_args(argv)
    prepare(a.src, a.out, a.root, a.workers, a.chunk_bytes, a.seed, a.skip_corrupt, a.overwrite, a.unlabelled)
