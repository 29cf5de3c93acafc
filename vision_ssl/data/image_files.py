"""Image files to uint8 tensors of one size, shared by the folder data modules (and the shard writer's checks).

Decoding: JPEG, PNG and WebP go through `torchvision.io.decode_image` (fast, in C); BMP, TIFF and anything else
PIL knows go through PIL (torchvision 0.29 cannot decode BMP or TIFF). Both give RGB for colour images (palette,
CMYK and YCbCr converted, alpha dropped as `fit_channels` would) and one channel for gray ones (gray + alpha keeps
the gray), turned upright by their EXIF orientation. 16-bit images (PNG, TIFF) are scaled to 8 bits, `round(v * 255 / 65535)`, so white stays white.

Which decoder, and why (torchvision 0.29 deprecates its image codecs in favour of TorchCodec): we keep
`torchvision.io.decode_image` for now and silence that one DeprecationWarning by its message
(`torchvision_codecs`). TorchCodec is the chosen successor: torchcodec 0.17 installs from a plain wheel here and
its `decoders.decode_jpeg`/`decode_png`/`decode_webp` decode still images on the CPU without a system FFmpeg,
bit-identical to torchvision on our PNG, JPEG and lossless WebP samples. It is not used yet because it would
change what we decode: its image decoders have no EXIF-orientation option (we turn photos upright), and its
16-bit path scales differently from `_to_uint8`; it would also add a 10 MB CUDA-built dependency. Moving means
applying the EXIF orientation ourselves, keeping `_to_uint8`, and the tests here pinning the result. PIL (or
PIL-SIMD, a drop-in build) stays the decoder of every other format.

Size rule: the shorter side is resized to `size` (bilinear, antialiased) and the centre `size` x `size` square is
cropped. An image whose shorter side is below `size` is upsampled only when `upscale_small` is set; otherwise it
is an error naming the file, since blowing up thumbnails silently would train on blur.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Iterator

import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_warn
from PIL import Image, ImageOps
from torchvision.io import ImageReadMode, decode_image
from torchvision.transforms.v2 import functional as TF

from vision_ssl.data.base import fit_channels

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # PIL opens 16-bit gray PNG/TIFF as one of these
_GRAY_MODES = ("1", "L", "LA", "La", "I;16", "I;16B", "I;16L", "I;16N", "I")
# torchvision.io's warning on every decode_image/encode_png call since 0.29 (why we keep them: the module docstring).
_TORCHVISION_CODECS_DEPRECATED = "The image decoding and encoding capabilities of TorchVision are deprecated"


@contextlib.contextmanager
def torchvision_codecs() -> Iterator[None]:
    """Calls to torchvision.io's image codecs without their 0.29 DeprecationWarning (that one warning only)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_TORCHVISION_CODECS_DEPRECATED, category=DeprecationWarning)
        yield


def list_images(root: str, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> tuple[list[str], list[str]]:
    """Image files under `root`, recursively and sorted (a deterministic order), and the other files found.

    Extensions are matched case-insensitively; hidden files and folders (starting with '.') are left out.
    """
    images: list[str] = []
    others: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith("."):
                continue
            (images if name.lower().endswith(extensions) else others).append(os.path.join(folder, name))
    return sorted(images), sorted(others)


def _torchvision_decodes(data: bytes) -> bool:
    """JPEG, PNG and WebP, judged by their first bytes (not the file name, which may lie)."""
    return data.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def _to_uint8(image: torch.Tensor) -> torch.Tensor:
    """uint8 as it is; 16-bit (stored as uint16 or int32) scaled from [0, 65535] to [0, 255] with rounding."""
    if image.dtype == torch.uint8:
        return image
    wide = image.to(torch.int64).clamp_(0, 65535)
    return ((wide * 255 + 32767) // 65535).to(torch.uint8)


def _decode_with_pil(data: bytes) -> torch.Tensor:
    with Image.open(io.BytesIO(data)) as opened:
        im = ImageOps.exif_transpose(opened)
        if im.mode == "F":
            raise ValueError("floating-point (PIL mode F) images are not supported; save them as 8- or 16-bit")
        if im.mode in _SIXTEEN_BIT_MODES:
            return _to_uint8(torch.from_numpy(np.asarray(im, dtype=np.int32).copy())[None])  # (1, H, W)
        array = np.asarray(im.convert("L" if im.mode in _GRAY_MODES else "RGB"))
    image = torch.from_numpy(array.copy())
    return image[None] if image.ndim == 2 else image.permute(2, 0, 1).contiguous()  # (H, W, C) -> (C, H, W)


def decode(data: bytes) -> torch.Tensor:
    """Encoded image bytes -> uint8 (1 or 3, H, W), EXIF orientation applied. Raises on unreadable data."""
    if not _torchvision_decodes(data):
        return _decode_with_pil(data)
    buf = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    # UNCHANGED keeps gray images one channel; it would give palette indices for a palette PNG, so those ask for RGB.
    mode = ImageReadMode.RGB if _is_palette_png(data) else ImageReadMode.UNCHANGED
    with torchvision_codecs():
        image = decode_image(buf, mode=mode, apply_exif_orientation=True)
        if image.shape[0] == 4 and data.startswith(b"\xff\xd8\xff"):  # a CMYK JPEG: let libjpeg convert it
            image = decode_image(buf, mode=ImageReadMode.RGB, apply_exif_orientation=True)
    return _to_uint8(image[:1] if image.shape[0] == 2 else image[:3])  # alpha dropped, as fit_channels does


def _is_palette_png(data: bytes) -> bool:
    """PNG colour type 3 (palette): byte 25 of the file, in the IHDR chunk that always comes first."""
    return data.startswith(b"\x89PNG") and len(data) > 25 and data[25] == 3


def square(image: torch.Tensor, size: int, upscale_small: bool, name: str) -> torch.Tensor:
    """(C, H, W) -> (C, size, size) by the module's size rule: shorter side to `size`, then centre crop."""
    h, w = image.shape[-2:]
    if min(h, w) < size and not upscale_small:
        raise ValueError(f"image '{name}' is {w}x{h} pixels, smaller than data.image_size={size} on its shorter side; "
                         "lower data.image_size, remove the image, or set data.init_args.upscale_small: true to upsample it")
    if min(h, w) != size:
        image = TF.resize(image, size, antialias=True)  # shorter side -> size
    return TF.center_crop(image, [size, size])


def load_image(path: str, size: int, channels: int, upscale_small: bool = True) -> torch.Tensor:
    """The file at `path` as uint8 (channels, size, size), by the size rule above.

    Raises:
        ValueError: the file cannot be decoded (naming it and the `skip_corrupt` option), or it is too small.
    """
    try:
        with open(path, "rb") as f:
            image = decode(f.read())
    except (RuntimeError, ValueError, OSError, Image.DecompressionBombError) as err:
        reason = " ".join(str(err).split())
        raise ValueError(f"cannot decode image '{path}': {reason}. Remove or replace the file, or set "
                         "data.init_args.skip_corrupt: true to skip unreadable images") from err
    return fit_image(image, size, channels, upscale_small, path)


def fit_image(image: torch.Tensor, size: int, channels: int, upscale_small: bool, name: str) -> torch.Tensor:
    """A decoded uint8 (C, H, W) image -> (channels, size, size) by the size rule, channels by `fit_channels`."""
    if image.shape[0] > channels:  # RGB wanted as gray: convert first, so the resize works on one channel
        image = fit_channels(image, channels)
    return fit_channels(square(image, size, upscale_small, name), channels)


def readable(path: str) -> bool:
    """True when the whole file decodes (a truncated JPEG passes a header check, so every pixel is decoded)."""
    try:
        with open(path, "rb") as f:
            decode(f.read())
        return True
    except Exception:  # noqa: BLE001 - any failure means unreadable
        return False


def drop_unreadable(paths: list[str], where: str) -> tuple[list[str], list[str]]:
    """The readable `paths` and the unreadable ones, warning with their count (the `skip_corrupt` option)."""
    bad = [p for p in paths if not readable(p)]
    if bad:
        skipped = set(bad)
        paths = [p for p in paths if p not in skipped]
        rank_zero_warn(f"skipped {len(bad)} unreadable image(s) of {where} (first: {bad[0]})")
    return paths, bad


class ImageFileDataset(torch.utils.data.Dataset):
    """(path, label) samples loaded with `load_image` to uint8 (C, size, size), label as given (-1: unlabelled)."""

    def __init__(self, samples: list[tuple[str, int]], size: int, channels: int, upscale_small: bool = True) -> None:
        self.samples, self.size, self.channels, self.upscale_small = samples, size, channels, upscale_small

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[i]
        return load_image(path, self.size, self.channels, self.upscale_small), label
