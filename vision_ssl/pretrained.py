"""A pretrained encoder with its input transform, built from a spec string with no dataset on disk, and the batched
embedding loops (tensors, images, folders and shards) shared by `vision_ssl.embed` and `vision-ssl embed`.

Specs are the evaluators' (`vision_ssl.eval.encoders`): `PATH.ckpt` (a `vision-ssl fit` checkpoint), `random:PATH.ckpt`
(its architecture with fresh seeded weights), `timm:NAME`, `timm:NAME=PATH` and `efficientnet_lite0_package`.
Images reach the backbone as the data modules give them: uint8, shorter side resized to the encoder's image size
(bilinear, antialiased), centre-cropped, channels fitted (gray repeated to 3, RGB averaged to 1, alpha dropped).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.v2 import functional as TF
from tqdm import tqdm

from vision_ssl.data.base import fit_channels, resize_uint8
from vision_ssl.data.image_folder import readable
from vision_ssl.data.shards import META_FILE, encode_file, folder_splits
from vision_ssl.data.streaming import StreamingImageDataModule, is_url


class PretrainedEncoder(nn.Module):
    """A backbone in eval mode and what its inputs need; called on uint8 batches (N, C, S, S) from `prepare`.

    Attributes:
        backbone: the feature extractor (`num_features` outputs).
        normalize: uint8 or [0, 1] images -> the backbone's normalised input.
        image_size: side the images are resized and centre-cropped to.
        channels: channels the backbone takes (1 or 3).
        spec: the spec the encoder was loaded from.
    """

    def __init__(self, backbone: nn.Module, normalize: nn.Module, image_size: int, channels: int, spec: str) -> None:
        super().__init__()
        self.backbone, self.normalize = backbone, normalize
        self.image_size, self.channels, self.spec = image_size, channels, spec
        self.num_features: int = int(getattr(backbone, "num_features", 0))
        self.eval()

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) -> (N, channels, S, S): shorter side to S, centre crop, channels fitted."""
        if images.shape[-2:] != (self.image_size, self.image_size):
            images = TF.center_crop(TF.resize(images, self.image_size, antialias=True), [self.image_size] * 2)
        return fit_channels(images, self.channels)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Features (N, num_features) of a prepared uint8 batch."""
        return self.backbone(self.normalize(images))

    def __repr__(self) -> str:
        return f"PretrainedEncoder('{self.spec}', image_size={self.image_size}, channels={self.channels})"


def load_encoder(spec: str | os.PathLike[str], image_size: int | None = None, seed: int = 0) -> PretrainedEncoder:
    """The encoder named by `spec`, in eval mode on the CPU, rebuilt from the checkpoint file alone.

    Args:
        spec: `PATH.ckpt`, `random:PATH.ckpt`, `timm:NAME`, `timm:NAME=PATH` or `efficientnet_lite0_package`.
        image_size: input side (default: the checkpoint's training image size; 224 for ImageNet encoders).
        seed: seed of the fresh weights of `random:PATH.ckpt`.

    Raises:
        FileNotFoundError: the checkpoint does not exist.
        ValueError: the file is not a vision_ssl training checkpoint of an image method (one line naming it).
    """
    spec = os.fspath(spec)
    if spec.startswith("timm:") or spec == "efficientnet_lite0_package":
        from vision_ssl.eval.imagenet import ImageNetEncoder

        enc = ImageNetEncoder(spec, image_size=image_size or 224)
        return PretrainedEncoder(enc.backbone, enc.normalize, image_size or 224, 3, spec)
    from vision_ssl.methods.restore import method_from_checkpoint, random_twin

    model, _ = method_from_checkpoint(spec.removeprefix("random:"))
    if spec.startswith("random:"):
        model = random_twin(model, seed)
    hp = model.hparams
    size = image_size or int(hp.get("image_size", 32))
    backbone, normalize = model.backbone, model.normalize
    assert isinstance(backbone, nn.Module) and isinstance(normalize, nn.Module)  # SSLMethod's (restore checks it)
    return PretrainedEncoder(backbone, normalize, size, int(hp.get("in_chans", 3)), spec)


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


def encode_batches(encoder: PretrainedEncoder, batches: Iterable[Any], total: int, device: str | torch.device,
                   progress: bool | None = None, on_batch: Callable[[Any], None] | None = None) -> torch.Tensor:
    """Features (N, D) float32 on the CPU of uint8 batches (a batch, or a tuple whose first item is one).

    Args:
        encoder: the encoder; moved to `device` and kept in eval mode.
        batches: prepared uint8 batches (N, channels, S, S), in order.
        total: images in all batches (for the progress bar).
        device: where the backbone runs.
        progress: show a progress bar (None: when `total` is over 1,000 images).
        on_batch: called with each batch as it came (e.g. to collect labels or names).
    """
    encoder.eval().to(device)
    feats: list[torch.Tensor] = []
    show = total > 1000 if progress is None else progress
    with torch.inference_mode(), tqdm(total=total, desc="embedding", unit="img", disable=not show) as bar:
        for batch in batches:
            images = batch[0] if isinstance(batch, tuple | list) else batch
            feats.append(encoder(images.to(device, non_blocking=True)).float().cpu())
            if on_batch is not None:
                on_batch(batch)
            bar.update(len(images))
    if not feats:
        return torch.empty(0, encoder.num_features)
    return torch.cat(feats)


class PILImages(Dataset):
    """PIL images as prepared uint8 tensors (C, S, S)."""

    def __init__(self, images: list[Any], encoder: PretrainedEncoder) -> None:
        self.images, self.encoder = images, encoder

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        image = self.images[i]
        if image.mode not in ("L", "RGB", "RGBA"):
            image = image.convert("RGB")
        x = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True))
        x = x.unsqueeze(0) if x.ndim == 2 else x.permute(2, 0, 1)  # (H, W[, C]) -> (C, H, W)
        return self.encoder.prepare(x.unsqueeze(0))[0]


def tensor_batches(images: torch.Tensor, encoder: PretrainedEncoder, batch_size: int) -> Iterator[torch.Tensor]:
    """Prepared uint8 batches of a uint8 or [0, 1] float tensor (N, C, H, W), one batch at a time."""
    for i in range(0, len(images), batch_size):
        x = images[i : i + batch_size]
        if x.is_floating_point():
            x = (x.clamp(0, 1) * 255).round().to(torch.uint8)  # what the data modules give: uint8 images
        yield encoder.prepare(x)


def embed_source(enc: PretrainedEncoder, data: str, batch_size: int = 256, workers: int = 2,
                 skip_corrupt: bool = False, device: str | None = None, thumbs: int = 0,
                 progress: bool | None = True) -> dict[str, Any]:
    """Embed every image of a folder or of shards from `vision-ssl prepare-data` (a folder or a URL) with `enc`:
    {"embeddings" (N, D), "names", "indices", "labels" (-1: no class), "classes", "encoder", "skipped",
    "thumbnails"} in the order listed (folders: sorted paths; shards: shard order). The loop under `embed` and
    `vision-ssl embed` (`vision_ssl.embed_cli`); with `thumbs`, keep that many 32x32 thumbnails for the projector."""
    size, channels = enc.image_size, enc.channels
    shards = is_url(data) or os.path.isfile(os.path.join(data, META_FILE))
    names: list[str] = []
    skipped: list[str]
    loaders: list[Any]
    if shards:
        dm = StreamingImageDataModule(root=data, image_size=size, channels=channels, batch_size=batch_size,
                                      num_workers=workers)
        from vision_ssl.data.shard_reader import ShardLoader

        splits = list(dm.meta["splits"])
        loaders = [ShardLoader(dm.shards(s, ids=True), batch_size=batch_size, num_workers=workers) for s in splits]
        classes, skipped = dm.classes, []
        total = sum(int(dm.meta["splits"][s]) for s in splits)
    else:
        dataset, names, classes, skipped = folder_source(data, size, channels, skip_corrupt)
        loaders, splits, total = [DataLoader(dataset, batch_size=batch_size, num_workers=workers)], [""], len(names)
    labels: list[torch.Tensor] = []
    indices: list[torch.Tensor] = []
    thumbnails: list[torch.Tensor] = []

    def keep(batch: Any, split: str) -> None:
        images, y, idx = batch[0], batch[1], batch[2]
        if shards:
            names.extend(f"{split}/{n}" for n in batch[3])
        labels.append(torch.as_tensor(y))
        indices.append(torch.as_tensor(idx))
        if sum(t.shape[0] for t in thumbnails) < thumbs:
            thumbnails.append(resize_uint8(images, 32))

    def batches() -> Iterator[Any]:
        for split, loader in zip(splits, loaders, strict=True):
            it = iter(loader)
            try:
                for batch in it:
                    keep(batch, split)
                    yield batch
            except ValueError as err:  # a worker's error: its own message, one line
                from vision_ssl.data.shard_reader import one_line, stop_workers

                stop_workers(it)  # the others would hold PyTorch's shutdown for 5 s
                raise ValueError(one_line(err)) from err

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    feats = encode_batches(enc, batches(), total, device, progress)
    return {"embeddings": feats, "names": names, "indices": torch.cat(indices).long(),
            "labels": torch.cat(labels).long(), "classes": list(classes), "encoder": enc.spec, "skipped": skipped,
            "thumbnails": torch.cat(thumbnails)[:thumbs] if thumbnails else None}


def embed(encoder_or_checkpoint: PretrainedEncoder | str | os.PathLike[str], images: Any, *, batch_size: int = 256,
          device: str | torch.device | None = None, progress: bool | None = None, num_workers: int = 0) -> torch.Tensor:
    """Features (N, D) float32 on the CPU of `images`, in order, with the backbone in eval mode.

    Args:
        encoder_or_checkpoint: an encoder from `load_encoder`, or any spec it takes (e.g. `PATH.ckpt`).
        images: a folder (flat, class subfolders, or train/ and val/; sorted paths), shards from `vision-ssl
            prepare-data`, a list of image paths, a list of PIL images, or a tensor (N, C, H, W) (or one (C, H, W)):
            uint8, or float in [0, 1]. Resized (shorter side, centre crop) and channel-fitted as the data modules do.
        batch_size: images per forward pass.
        device: torch device (default: cuda when available, else cpu).
        progress: show a progress bar (None: for more than 1,000 images).
        num_workers: decoding processes for files (0: in this process).

    Raises:
        ValueError: `images` is none of the above, or an image cannot be decoded (naming it).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    enc = encoder_or_checkpoint
    if not isinstance(enc, PretrainedEncoder):
        enc = load_encoder(enc)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(images, str | os.PathLike) and os.path.isdir(images) or isinstance(images, str) and "://" in images:
        return embed_source(enc, os.fspath(images), batch_size=batch_size, workers=num_workers, device=str(device),
                            progress=progress)["embeddings"]
    if isinstance(images, str | os.PathLike):
        if not os.path.isfile(images):
            raise FileNotFoundError(f"images '{os.fspath(images)}' does not exist (give a folder, an image file, "
                                    "a list of paths or PIL images, or a tensor)")
        images = [images]
    if isinstance(images, torch.Tensor):
        x = images.unsqueeze(0) if images.ndim == 3 else images
        if x.ndim != 4 or x.shape[1] not in (1, 3, 4) or not (x.dtype == torch.uint8 or x.is_floating_point()):
            raise ValueError(f"image tensors must be uint8 or float (N, C, H, W) with C in 1, 3, 4; got {x.dtype} "
                             f"{tuple(images.shape)}")
        return encode_batches(enc, tensor_batches(x, enc, batch_size), len(x), device, progress)
    if isinstance(images, list | tuple) and images:
        from PIL import Image

        if all(isinstance(p, str | os.PathLike) for p in images):
            data: FileImages | PILImages = FileImages([(os.fspath(p), -1) for p in images], enc.image_size, enc.channels)
        elif all(isinstance(p, Image.Image) for p in images):
            data = PILImages(list(images), enc)
        else:
            kinds = sorted({type(p).__name__ for p in images})
            raise ValueError(f"a list of images must hold only paths or only PIL images, got {', '.join(kinds)}")
        loader = DataLoader(data, batch_size=batch_size, num_workers=num_workers)
        return encode_batches(enc, loader, len(data), device, progress)
    raise ValueError(f"images must be a folder, shards, a list of image paths or PIL images, or a (N, C, H, W) "
                     f"tensor; got {images!r:.80}")
