"""Loader throughput on the same images: `ImageFolderDataModule` and `UnlabeledFolderDataModule` (one file per image)
vs `StreamingImageDataModule` (LitData shards from `vision-ssl prepare-data`), images/s of full training epochs with N
loader workers.

    python -m benchmarks.speed loaders                       # 4000 Fashion-MNIST images as 64x64 JPEGs
    python -m benchmarks.speed loaders --images 20000 --size 96 --workers 0 2 4

The images are the first `--images` Fashion-MNIST training images (`make data`), upscaled to `--size` and written as
JPEG files in class folders, then as shards; the unlabelled module reads the same files (it finds them recursively
under `train/` and ignores the class folders). All decode with `vision_ssl.data.image_files` (JPEGs through
`torchvision.io.decode_image`), resize to `--size` and yield uint8 batches, so the difference is the storage: many
small files versus a few large chunks.
An epoch's time includes starting its workers (the ImageFolder loader keeps them between epochs, the streaming one
starts them per epoch) and is measured after one warm-up epoch (both read from the page cache then; on network
storage files cost more per image). The modules alternate epoch by epoch so a shared machine's drift hits both.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import statistics
import time
from pathlib import Path

import torch
from torchvision.io import encode_jpeg

from benchmarks.lib.env import RESULTS, environment, write_json
from vision_ssl.data import (
    FashionMNISTDataModule,
    ImageFolderDataModule,
    StreamingImageDataModule,
    UnlabeledFolderDataModule,
)
from vision_ssl.data.base import resize_uint8
from vision_ssl.data.shards import prepare


def write_images(folder: Path, n: int, size: int, data_root: str) -> None:
    """`folder/train/<class>/*.jpg` from the first `n` Fashion-MNIST training images, and a small `val/`."""
    ds = FashionMNISTDataModule(root=data_root, image_size=28, channels=1, num_workers=0).load_split("train")
    images, labels = resize_uint8(ds.images[: n + n // 10], size), ds.labels[: n + n // 10]
    for i, (image, label) in enumerate(zip(images, labels.tolist(), strict=True)):
        split = "train" if i < n else "val"
        out = folder / split / f"class{label}"
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{i:06d}.jpg").write_bytes(encode_jpeg(image.expand(3, -1, -1).contiguous(), quality=90).numpy().tobytes())


def epoch_rate(loader: object) -> float:
    """Images per second of one full pass over `loader`."""
    start, seen = time.perf_counter(), 0
    for images, _ in loader:  # type: ignore[attr-defined]
        seen += len(images)
    return seen / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=4000, help="training images (default 4000)")
    p.add_argument("--size", type=int, default=64, help="image side on disk and in batches (default 64)")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="loader workers to compare (default 0 2)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per setting, after one warm-up (default 3)")
    p.add_argument("--work-dir", default="/tmp/vision_ssl_streaming_bench", help="where images and shards go")
    p.add_argument("--data-root", default="data", help="Fashion-MNIST folder (`make data`)")
    p.add_argument("--out", default=str(RESULTS / "streaming_throughput"), help="results path without .json/.md")
    a = p.parse_args(argv)
    work = Path(a.work_dir)
    shutil.rmtree(work, ignore_errors=True)
    write_images(work / "images", a.images, a.size, a.data_root)
    folder_bytes = sum(f.stat().st_size for f in (work / "images" / "train").rglob("*.jpg"))
    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):  # the progress bars
        prepare(str(work / "images"), str(work / "shards"), workers=1)
    write_rate = (a.images + a.images // 10) / (time.perf_counter() - start)
    shard_bytes = sum(f.stat().st_size for f in (work / "shards" / "train").glob("*.bin"))
    kw = dict(image_size=a.size, channels=3, batch_size=a.batch_size, val_fraction=0.1, seed=0)
    rows = []
    for workers in a.workers:
        modules = {"ImageFolder": ImageFolderDataModule(root=str(work / "images"), num_workers=workers, **kw),
                   "unlabelled": UnlabeledFolderDataModule(root=str(work / "images" / "train"), num_workers=workers, **kw),
                   "shards": StreamingImageDataModule(root=str(work / "shards"), num_workers=workers, **kw)}
        loaders = {}
        for name, dm in modules.items():
            dm.setup("fit")
            loaders[name] = dm.train_dataloader()
            epoch_rate(loaders[name])  # warm-up: page cache, first worker start
        rates: dict[str, list[float]] = {name: [] for name in modules}
        for _ in range(a.epochs):
            for name in modules:
                rates[name].append(epoch_rate(loaders[name]))
        med = {name: statistics.median(r) for name, r in rates.items()}
        rows.append({"workers": workers, "imagefolder_images_per_s": med["ImageFolder"],
                     "unlabelled_images_per_s": med["unlabelled"], "shards_images_per_s": med["shards"],
                     "ratio_unlabelled_over_imagefolder": med["unlabelled"] / med["ImageFolder"],
                     "ratio_shards_over_imagefolder": med["shards"] / med["ImageFolder"], "epochs": rates})
        print(f"workers {workers}: ImageFolder {med['ImageFolder']:.0f} img/s, unlabelled folder {med['unlabelled']:.0f} "
              f"img/s (x{med['unlabelled'] / med['ImageFolder']:.2f}), shards {med['shards']:.0f} img/s "
              f"(x{med['shards'] / med['ImageFolder']:.2f})")
    result = {"images": a.images, "size": a.size, "batch_size": a.batch_size, "format": "JPEG q90 from Fashion-MNIST",
              "folder_mib": folder_bytes / 2**20, "shards_mib": shard_bytes / 2**20, "prepare_images_per_s": write_rate,
              "rows": rows, "environment": environment()}
    write_json(Path(a.out + ".json"), result)
    write_markdown(result, Path(a.out + ".md"))


def write_markdown(r: dict, path: Path) -> None:
    env = r["environment"]
    lines = [
        "# Loader throughput: ImageFolder and unlabelled-folder files vs LitData shards",
        "",
        f"Command: `{env['command']}`",
        "",
        f"Machine: {env['gpu'] or 'CPU only'}; {env['cpu']}, {env['cpu_cores']} cores, torch threads "
        f"{env['torch_threads']}, load average {env['load_avg_1min']} at the end (shared with other jobs). torch "
        f"{env['versions']['torch']}, torchvision {env['versions']['torchvision']}.",
        "",
        f"{r['images']} training images ({r['format']}, {r['size']}x{r['size']}), batches of {r['batch_size']}; "
        f"folder {r['folder_mib']:.1f} MiB of files, shards {r['shards_mib']:.1f} MiB of chunks (the same encoded bytes); "
        f"`prepare-data` wrote {r['prepare_images_per_s']:.0f} images/s with 1 worker. Median of "
        f"{len(r['rows'][0]['epochs']['shards'])} full training epochs after a warm-up epoch, the modules alternating; "
        "UnlabeledFolder reads the same files as ImageFolder.",
        "",
        "| loader workers | ImageFolder images/s (range) | UnlabeledFolder images/s (range) | Unlabeled / ImageFolder "
        "| shards images/s (range) | shards / ImageFolder |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in r["rows"]:
        spread = {k: f"{min(v):.0f}-{max(v):.0f}" for k, v in row["epochs"].items()}
        lines.append(f"| {row['workers']} | {row['imagefolder_images_per_s']:.0f} ({spread['ImageFolder']}) | "
                     f"{row['unlabelled_images_per_s']:.0f} ({spread['unlabelled']}) | "
                     f"**{row['ratio_unlabelled_over_imagefolder']:.2f}** | "
                     f"{row['shards_images_per_s']:.0f} ({spread['shards']}) | **{row['ratio_shards_over_imagefolder']:.2f}** |")
    lines += ["", "ImageFolder and UnlabeledFolder decode with the same dataset class (`image_files.ImageFileDataset`), so "
              "the gap between them is this machine's noise; with few batches per epoch the shards' per-epoch worker "
              "start weighs more.", "", "The loaders read from the page cache here, so this measures per-file overhead (open, stat, read of a small "
              "file) against reading one large chunk, not network or object storage, where files cost far more per image "
              "and only the shards can be streamed. Two loader workers on 2 shared cores compete with the main process, "
              "so their gain varies; numbers move by 10-30% between runs on this shared machine, more with "
              "short epochs (see the ranges)."]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    with torch.inference_mode():
        main()
