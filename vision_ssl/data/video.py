"""Clips from real videos for next-frame prediction: a folder of video files and/or frame-image folders.

`root` holds video files (`*.avi`, `*.mp4`, ...) and/or subfolders of frame images (`*.png`, `*.jpg`, ...,
ordered by file name). Every source is decoded once in `setup`, each frame resized (shorter side) and
centre-cropped to `image_size` and kept as uint8 in memory; clips of `context_frames + future_frames` frames
(every `frame_step`-th frame) are windows into it. Each source is split in time: the first `1 - val_fraction`
of its frames give the training clips, the rest the validation (and test) clips, so no frame is in both.

Video files are decoded with PyAV (`av`), the FFmpeg bindings torchvision's video reader used: torchvision
0.22 deprecated and later releases removed `torchvision.io.read_video`. Frame images are decoded with
`torchvision.io.decode_image` and need no video decoder. The test video is OpenCV's `vtest.avi` street scene
(`python -m vision_ssl.data.fetch vtest`, part of `make data`).

A batch is `(clips uint8 (B, T, C, H, W), labels long (B, 1))` with labels all -1 (no classes; the online
probe of `NextFramePredictor` skips them).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import lightning as L
import torch
from lightning.fabric.utilities.data import AttributeDict
from torch.utils.data import DataLoader, Dataset
from torchvision.io import ImageReadMode, decode_image
from torchvision.transforms.v2 import functional as TF

from vision_ssl.data.base import fit_channels, missing_data_error
from vision_ssl.data.extras import require
from vision_ssl.data.image_files import torchvision_codecs
from vision_ssl.data.sampling import train_sampler

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def _fit(frame: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    """uint8 (C, H, W) -> (channels, size, size): shorter side to `size`, centre crop."""
    frame = TF.center_crop(TF.resize(frame, size, antialias=True), [size, size])
    return fit_channels(frame, channels)


def read_video(path: str, size: int, channels: int = 3, max_frames: int | None = None) -> torch.Tensor:
    """Decode a video file to uint8 frames (T, channels, size, size) with PyAV."""
    av = require("av", "reading video files (frame-image folders do not)")
    frames = []
    try:
        with av.open(path) as container:
            for frame in container.decode(video=0):
                rgb = torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1)  # (3, H, W)
                frames.append(_fit(rgb, size, channels))
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except av.error.FFmpegError as err:
        raise RuntimeError(f"cannot decode video '{path}': {err}") from err
    if not frames:
        raise RuntimeError(f"video '{path}' has no decodable frames")
    return torch.stack(frames)


def read_frame_folder(folder: str, size: int, channels: int = 3, max_frames: int | None = None) -> torch.Tensor:
    """Decode the images of `folder`, sorted by name, to uint8 frames (T, channels, size, size)."""
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))[:max_frames]
    if not names:
        raise RuntimeError(f"no frame images ({', '.join(IMAGE_EXTENSIONS)}) in '{folder}'")
    with torchvision_codecs():  # still torchvision's decoder: see vision_ssl/data/image_files.py
        return torch.stack([_fit(decode_image(os.path.join(folder, n), ImageReadMode.RGB), size, channels)
                            for n in names])


def find_sources(root: str) -> list[str]:
    """Video files and frame-image folders directly under `root`, sorted."""
    if not os.path.isdir(root):
        raise missing_data_error("Video", root, "make data (fetches vtest.avi) or a folder of videos/frame folders")
    sources = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if name.lower().endswith(VIDEO_EXTENSIONS) or (
            os.path.isdir(path) and any(n.lower().endswith(IMAGE_EXTENSIONS) for n in os.listdir(path))
        ):
            sources.append(path)
    if not sources:
        raise missing_data_error("Video", root, "a folder of video files or frame-image subfolders")
    return sources


class VideoClipDataset(Dataset):
    """Windows of `length` frames (every `step`-th) into in-memory uint8 videos (N_i, C, S, S)."""

    def __init__(self, videos: list[torch.Tensor], length: int, step: int = 1, stride: int = 1) -> None:
        span = (length - 1) * step + 1
        self.videos, self.length, self.step = videos, length, step
        self.windows = [(v, s) for v, video in enumerate(videos) for s in range(0, len(video) - span + 1, stride)]

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        v, start = self.windows[i]
        clip = self.videos[v][start : start + (self.length - 1) * self.step + 1 : self.step]  # (T, C, S, S)
        return clip, torch.tensor([-1])


class VideoClipDataModule(L.LightningDataModule):
    """Clips from the video files and frame folders under `root`, split in time into train and val/test.

    Args:
        root: folder of video files and/or frame-image subfolders.
        image_size: frame side after resize (shorter side) and centre crop.
        channels: 3 (RGB) or 1 (gray).
        context_frames: observed frames per clip.
        future_frames: frames to predict per clip.
        frame_step: keep every `frame_step`-th frame (temporal subsampling).
        clip_stride: frames between the starts of consecutive training clips (default 1: every window).
        val_fraction: trailing fraction of every source held out for validation and test.
        max_frames: decode at most this many frames per source.
        batch_size: per-process batch size.
        num_workers: data-loader workers.
        seed: seed of the training order (a new order every epoch, drawn from seed and epoch).
    """

    num_classes: int = 0  # unlabelled: labels are -1, and the methods keep no online probe

    if TYPE_CHECKING:  # Lightning types `hparams` as a MutableMapping; `save_hyperparameters` makes an AttributeDict

        @property
        def hparams(self) -> AttributeDict: ...

    def __init__(
        self,
        root: str = "data/videos",
        image_size: int = 64,
        channels: int = 3,
        context_frames: int = 5,
        future_frames: int = 10,
        frame_step: int = 1,
        clip_stride: int = 1,
        val_fraction: float = 0.2,
        max_frames: int | None = None,
        batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if min(context_frames, future_frames, frame_step, clip_stride, batch_size) < 1:
            raise ValueError("context_frames, future_frames, frame_step, clip_stride and batch_size must be >= 1")
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        self.root, self.image_size, self.channels = root, image_size, channels
        self.frames = context_frames + future_frames
        self.sets: dict[str, VideoClipDataset] = {}

    def load(self, path: str) -> torch.Tensor:
        """Frames (T, C, S, S) uint8 of one source (video file or frame folder)."""
        read = read_frame_folder if os.path.isdir(path) else read_video
        return read(path, self.image_size, self.channels, self.hparams.max_frames)

    def setup(self, stage: str | None = None) -> None:
        if self.sets:
            return
        hp, train, held_out = self.hparams, [], []
        for path in find_sources(self.root):
            video = self.load(path)
            cut = round(len(video) * (1 - hp.val_fraction))
            train.append(video[:cut])
            held_out.append(video[cut:])
        self.sets["train"] = VideoClipDataset(train, self.frames, hp.frame_step, hp.clip_stride)
        self.sets["val"] = VideoClipDataset(held_out, self.frames, hp.frame_step, stride=self.frames)
        self.sets["test"] = self.sets["val"]
        for split in ("train", "val"):
            if len(self.sets[split]) == 0:
                raise ValueError(f"the {split} split has no clip of {self.frames} frames (step {hp.frame_step}); "
                                 "use longer videos, fewer frames or a different val_fraction")  # fmt: skip

    def _loader(self, split: str) -> DataLoader:
        if not self.sets:
            raise RuntimeError("call setup() before asking for data loaders")
        train, data, bs = split == "train", self.sets[split], self.hparams.batch_size
        return DataLoader(
            data, batch_size=bs, sampler=train_sampler(self, len(data), bs, self.hparams.seed) if train else None,
            drop_last=train and len(data) >= bs,
            num_workers=self.hparams.num_workers, persistent_workers=self.hparams.num_workers > 0,
        )  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
