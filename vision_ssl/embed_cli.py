"""`vision-ssl embed ENCODER --data PATH --out FILE`: embeddings of your own images from a pretrained encoder.

    vision-ssl embed runs/demo/checkpoints/last.ckpt --data photos/ --out photos.csv
    vision-ssl embed timm:resnet18 --data shards/mine --out mine.pt --projector runs/projector

ENCODER is any spec the evaluators take (`PATH.ckpt`, `random:PATH.ckpt`, `timm:NAME`, `timm:NAME=PATH`,
`efficientnet_lite0_package`). PATH is a folder of images (flat, class subfolders, or ImageFolder's train/ and val/),
or shards written by `vision-ssl prepare-data` (a folder or a URL). Images are decoded and resized as the data modules
do (shorter side to the encoder's image size, centre crop) and embedded in batches with the backbone in eval mode.

FILE gets one row per image, in the order listed (folders: sorted paths; shards: shard order):
- `.pt`: {"embeddings" (N, D) float32, "names", "indices", "labels" (-1: no class), "classes", "encoder", "skipped"};
- `.npy`: the (N, D) array, with `FILE.ids.csv` (name, index, label) beside it;
- `.csv`: name, index, label, e0 ... e{D-1}.
An unreadable image stops the run with its path, or with `--skip-corrupt` is left out and listed, as
`ImageFolderDataModule` does. `--projector DIR` also writes a TensorBoard projector (names, labels, thumbnails).

From Python: `vision_ssl.embed(encoder, images)` (vision_ssl/pretrained.py), which shares the encoder loading and the
folder and shard loop (`vision_ssl.pretrained.embed_source`) with this command.
"""

from __future__ import annotations

import argparse
import csv
import os
from typing import Any

import numpy as np
import torch
from torch import nn

from vision_ssl import projector
from vision_ssl.encoder_options import add_encoder_args
from vision_ssl.pretrained import (
    FileImages,
    PretrainedEncoder,
    embed_source,
    folder_source,
    load_encoder,
)

__all__ = ["FileImages", "embed", "folder_source", "load_backbone", "main", "write", "write_projector"]

FORMATS = (".pt", ".npy", ".csv")


def load_backbone(spec: str, image_size: int | None) -> tuple[nn.Module, nn.Module, int, int]:
    """(backbone, normalize, image side, channels) of an encoder spec; a checkpoint gives its own side unless set."""
    enc = load_encoder(spec, image_size)
    return enc.backbone, enc.normalize, enc.image_size, enc.channels


def embed(spec: str | PretrainedEncoder, data: str, image_size: int | None = None, batch_size: int = 256,
          workers: int = 2, skip_corrupt: bool = False, device: str | None = None, thumbs: int = 0,
          progress: bool | None = True) -> dict[str, Any]:
    """Embed every image of `data` with the encoder `spec` (see the module docstring and `embed_source`)."""
    enc = spec if isinstance(spec, PretrainedEncoder) else load_encoder(spec, image_size)
    return embed_source(enc, data, batch_size, workers, skip_corrupt, device, thumbs, progress)


def write(result: dict[str, Any], out: str) -> None:
    """Write `result` of `embed` to `out` (.pt, .npy + .ids.csv, or .csv)."""
    ext = os.path.splitext(out)[1].lower()
    if ext not in FORMATS:
        raise ValueError(f"--out must end in {', '.join(FORMATS)}, got '{out}'")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    emb, rows = result["embeddings"], zip(result["names"], result["indices"].tolist(), result["labels"].tolist(), strict=True)
    if ext == ".pt":
        torch.save({k: v for k, v in result.items() if k != "thumbnails"}, out)
        return
    if ext == ".npy":
        np.save(out, emb.numpy())
        out, header, values = out + ".ids.csv", ["name", "index", "label"], None
    else:
        header, values = ["name", "index", "label"] + [f"e{j}" for j in range(emb.shape[1])], emb.tolist()
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for i, row in enumerate(rows):
            w.writerow(list(row) + ([f"{v:.6g}" for v in values[i]] if values is not None else []))


def write_projector(result: dict[str, Any], log_dir: str) -> None:
    """A TensorBoard projector of the first embeddings, labelled with names and classes, with thumbnails."""
    thumbs = result["thumbnails"]
    n = len(thumbs)
    classes = result["classes"]
    meta = [[name, classes[y] if 0 <= y < len(classes) else ""] for name, y in
            zip(result["names"][:n], result["labels"][:n].tolist(), strict=True)]
    projector.write_projector(log_dir, {"embeddings": result["embeddings"][:n]}, thumbs, meta, ["name", "label"])


def main(argv: list[str] | None = None) -> None:
    """`vision-ssl embed ENCODER --data PATH --out FILE [options]`."""
    p = argparse.ArgumentParser(prog="vision-ssl embed", description=__doc__.split("\n\n")[0])
    add_encoder_args(p, labelled_data=False)
    p.add_argument("--data", required=True, help="image folder, or shards from `vision-ssl prepare-data` (folder/URL)")
    p.add_argument("--out", required=True, help=f"output file: {', '.join(FORMATS)}")
    p.add_argument("--batch-size", type=int, default=256, help="images per forward pass (default 256)")
    p.add_argument("--workers", type=int, default=2, help="decoding processes (default 2; 0: in this process)")
    p.add_argument("--skip-corrupt", action="store_true", help="leave unreadable images out instead of stopping")
    p.add_argument("--projector", default=None, help="also write a TensorBoard projector to this folder")
    p.add_argument("--projector-max", type=int, default=2000, help="images in the projector (default 2000)")
    a = p.parse_args(argv)
    if os.path.splitext(a.out)[1].lower() not in FORMATS:  # before the work, not after
        raise ValueError(f"--out must end in {', '.join(FORMATS)}, got '{a.out}'")
    if a.batch_size < 1 or a.workers < 0:
        raise ValueError(f"--batch-size must be >= 1 and --workers >= 0, got {a.batch_size} and {a.workers}")
    result = embed(a.encoder, a.data, a.image_size, a.batch_size, a.workers, a.skip_corrupt, a.device,
                   a.projector_max if a.projector else 0)
    write(result, a.out)
    if a.projector:
        write_projector(result, a.projector)
    skipped = f"; skipped {len(result['skipped'])} unreadable (first: {result['skipped'][0]})" if result["skipped"] else ""
    print(f"embed: wrote {tuple(result['embeddings'].shape)} embeddings of {a.data} to {a.out}{skipped}"
          + (f"; projector in {a.projector} (tensorboard --logdir {a.projector})" if a.projector else ""))
