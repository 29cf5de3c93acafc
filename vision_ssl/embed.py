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
"""

from __future__ import annotations

import argparse
import csv
import importlib
import os
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from vision_ssl.data.base import resize_uint8
from vision_ssl.data.image_folder import readable
from vision_ssl.data.shards import META_FILE, encode_file, folder_splits
from vision_ssl.data.streaming import StreamingImageDataModule, is_url
from vision_ssl.eval.encoders import is_checkpoint_spec
from vision_ssl.eval.features import init_kwargs, random_twin
from vision_ssl.utils.checkpoint import load_checkpoint

FORMATS = (".pt", ".npy", ".csv")


def load_backbone(spec: str, image_size: int | None) -> tuple[nn.Module, nn.Module, int, int]:
    """(backbone, normalize, image side, channels) of an encoder spec; a checkpoint gives its own side unless set."""
    if not is_checkpoint_spec(spec):
        from vision_ssl.eval.imagenet import ImageNetEncoder

        enc = ImageNetEncoder(spec, image_size=image_size or 224)
        return enc.backbone, enc.normalize, image_size or 224, 3
    from vision_ssl.methods.base import SSLMethod

    path = spec.removeprefix("random:")
    ckpt = load_checkpoint(path)
    method = (ckpt.get("vision_ssl") or {}).get("method")
    if not method:
        raise ValueError(f"'{path}' is not a vision_ssl training checkpoint (no record of its method); give a "
                         "checkpoint written by `vision-ssl fit`, or timm:NAME")
    module, _, name = method.rpartition(".")
    model = getattr(importlib.import_module(module), name)(**init_kwargs(ckpt["hyper_parameters"]))
    if not isinstance(model, SSLMethod):
        raise ValueError(f"'{path}' was written by {name}, which has no image backbone to embed with")
    model.load_state_dict(ckpt["state_dict"])
    if spec.startswith("random:"):
        model = random_twin(model)
    hp = model.hparams
    return model.backbone, model.normalize, image_size or int(hp.get("image_size", 32)), int(hp.get("in_chans", 3))


class FileImages(Dataset):
    """(uint8 image (C, S, S), label, index) of image files, decoded as the data modules decode them."""

    def __init__(self, items: list[tuple[str, int]], size: int, channels: int) -> None:
        self.items, self.size, self.channels = items, size, channels

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        from vision_ssl.data.shard_reader import decode_bytes, flat

        path, label = self.items[i]
        try:  # the bytes prepare-data would store: JPEG/PNG as they are, other formats (BMP, TIFF, ...) as PNG
            image = decode_bytes(encode_file(path), self.size, self.channels)
        except (RuntimeError, ValueError, OSError) as err:
            raise ValueError(f"cannot decode image '{path}': {flat(err)}. Remove or replace the file, or pass "
                             "--skip-corrupt to leave unreadable images out") from err
        return image, label, i


def folder_source(data: str, size: int, channels: int, skip_corrupt: bool) -> tuple[Dataset, list[str], list[str], list[str]]:
    """Dataset, names (relative to `data`), class names and skipped names of an image folder."""
    if not os.path.isdir(data):
        raise FileNotFoundError(f"--data '{data}' does not exist (give an image folder or shards from prepare-data)")
    classes, splits = folder_splits(data)
    items = [(path, label) for split in splits.values() for path, label, _, _ in split]
    skipped = []
    if skip_corrupt:
        skipped = [p for p, _ in tqdm(items, desc="checking", unit="img", leave=False) if not readable(p)]
        bad = set(skipped)
        items = [it for it in items if it[0] not in bad]
        if not items:
            raise ValueError(f"every image under '{data}' is unreadable ({len(skipped)} files)")
    names = [os.path.relpath(p, data) for p, _ in items]
    return FileImages(items, size, channels), names, classes, [os.path.relpath(p, data) for p in skipped]


def embed(spec: str, data: str, image_size: int | None = None, batch_size: int = 256, workers: int = 2,
          skip_corrupt: bool = False, device: str | None = None, thumbs: int = 0) -> dict[str, Any]:
    """Embed every image of `data` with the encoder `spec` (see the module docstring); with `thumbs`, keep that many
    32x32 thumbnails for the projector."""
    backbone, normalize, size, channels = load_backbone(spec, image_size)
    shards = is_url(data) or os.path.isfile(os.path.join(data, META_FILE))
    names: list[str]
    skipped: list[str]
    loaders: list[Any]
    if shards:
        dm = StreamingImageDataModule(root=data, image_size=size, channels=channels, batch_size=batch_size,
                                      num_workers=workers)
        from vision_ssl.data.shard_reader import ShardLoader

        splits = list(dm.meta["splits"])
        loaders = [ShardLoader(dm.shards(s, ids=True), batch_size=batch_size, num_workers=workers) for s in splits]
        classes, skipped, names = dm.classes, [], []
    else:
        dataset, names, classes, skipped = folder_source(data, size, channels, skip_corrupt)
        loaders, splits = [DataLoader(dataset, batch_size=batch_size, num_workers=workers)], [""]
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    backbone.eval().to(device)
    normalize.to(device)
    feats: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []
    indices: list[torch.Tensor] = []
    thumbnails: list[torch.Tensor] = []
    total = sum(int(dm.meta["splits"][s]) for s in splits) if shards else len(names)
    with torch.inference_mode(), tqdm(total=total, desc="embedding", unit="img") as bar:
        for split, loader in zip(splits, loaders, strict=True):
            batches = iter(loader)
            try:
                for batch in batches:
                    images, y, idx = batch[0], batch[1], batch[2]
                    if shards:
                        names += [f"{split}/{n}" for n in batch[3]]
                    feats.append(backbone(normalize(images.to(device))).float().cpu())
                    labels.append(torch.as_tensor(y))
                    indices.append(torch.as_tensor(idx))
                    if sum(t.shape[0] for t in thumbnails) < thumbs:
                        thumbnails.append(resize_uint8(images, 32))
                    bar.update(len(images))
            except ValueError as err:  # a worker's error: its own message, one line
                from vision_ssl.data.shard_reader import one_line, stop_workers

                stop_workers(batches)  # the others would hold PyTorch's shutdown for 5 s
                raise ValueError(one_line(err)) from err
    return {"embeddings": torch.cat(feats), "names": names, "indices": torch.cat(indices).long(),
            "labels": torch.cat(labels).long(), "classes": list(classes), "encoder": spec, "skipped": skipped,
            "thumbnails": torch.cat(thumbnails)[:thumbs] if thumbnails else None}


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
    from torch.utils.tensorboard import SummaryWriter

    thumbs = result["thumbnails"]
    n = len(thumbs)
    classes = result["classes"]
    meta = [[name, classes[y] if 0 <= y < len(classes) else ""] for name, y in
            zip(result["names"][:n], result["labels"][:n].tolist(), strict=True)]
    images = thumbs.expand(-1, 3, -1, -1) if thumbs.shape[1] == 1 else thumbs
    with SummaryWriter(log_dir) as writer:
        writer.add_embedding(result["embeddings"][:n], metadata=meta, metadata_header=["name", "label"],
                             label_img=images.float() / 255, tag="embeddings")


def main(argv: list[str] | None = None) -> None:
    """`vision-ssl embed ENCODER --data PATH --out FILE [options]`."""
    p = argparse.ArgumentParser(prog="vision-ssl embed", description=__doc__.split("\n\n")[0])
    p.add_argument("encoder", help="PATH.ckpt, random:PATH.ckpt, timm:NAME[=PATH] or efficientnet_lite0_package")
    p.add_argument("--data", required=True, help="image folder, or shards from `vision-ssl prepare-data` (folder/URL)")
    p.add_argument("--out", required=True, help=f"output file: {', '.join(FORMATS)}")
    p.add_argument("--image-size", type=int, default=None,
                   help="side images are resized to (default: the checkpoint's; 224 for ImageNet encoders)")
    p.add_argument("--batch-size", type=int, default=256, help="images per forward pass (default 256)")
    p.add_argument("--workers", type=int, default=2, help="decoding processes (default 2; 0: in this process)")
    p.add_argument("--skip-corrupt", action="store_true", help="leave unreadable images out instead of stopping")
    p.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
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
