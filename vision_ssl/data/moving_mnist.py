"""Stochastic Moving MNIST (Denton & Fergus 2018, "Stochastic Video Generation with a Learned Prior", Sec. 4.1).

Clips of `num_digits` MNIST digits bouncing inside a square frame. Each digit starts at a random position with
a random integer velocity; when it hits a wall it takes a *new random velocity pointing away from that wall*
(the component normal to the wall gets a random magnitude in [1, max_speed] away from it, the other component a
random value in [-max_speed, max_speed]). The future after a bounce is therefore uncertain: exactly what a
latent-variable predictor has to model and a deterministic one averages into a blur.

Clips are generated on the fly and are a pure function of (seed, split, index), so the validation and test
sets are fixed. Digits: the training split draws from MNIST's training digits minus a seeded held-out tenth,
the validation split from that held-out tenth, the test split from MNIST's test digits.

A batch is `(clips, digits)`: clips uint8 (B, T, C, H, W) with T = context_frames + future_frames, and
digits long (B, num_digits), the MNIST class of every digit in the clip (the online probe predicts the set of
digits in the first frame). Digits are overlaid with a pixel-wise max.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import lightning as L
import numpy as np
import torch
from lightning.fabric.utilities.data import AttributeDict
from torch.utils.data import DataLoader, Dataset
from torchvision import datasets

from vision_ssl.data.base import fit_channels, missing_data_error, resize_uint8
from vision_ssl.data.sampling import train_sampler

SPLIT_CODE = {"train": 0, "val": 1, "test": 2}


def bounce_trajectory(rng: np.random.Generator, length: int, limit: int, max_speed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions and velocities of one digit bouncing in [0, limit]^2 with random re-direction at walls.

    Args:
        rng: random generator (consumed in a fixed order, so a seeded generator gives a fixed trajectory).
        length: number of frames.
        limit: largest top-left coordinate (frame size - digit size).
        max_speed: largest velocity component, pixels per frame.

    Returns:
        positions (length, 2) int (y, x) and velocities (length, 2) int, the velocity that moved the digit
        *into* each position being velocities[t - 1] (velocities[t] is the one leaving frame t).
    """
    pos = rng.integers(0, limit + 1, size=2)
    vel = rng.integers(1, max_speed + 1, size=2) * rng.choice([-1, 1], size=2)  # never starts at rest
    positions, velocities = np.zeros((length, 2), np.int64), np.zeros((length, 2), np.int64)
    for t in range(length):
        hit = [(pos[a] <= 0 and vel[a] < 0) or (pos[a] >= limit and vel[a] > 0) for a in range(2)]
        if any(hit):  # new random velocity: away from every wall hit (corners: both), the other component free
            for a in range(2):
                if hit[a]:
                    vel[a] = (1 if pos[a] <= 0 else -1) * rng.integers(1, max_speed + 1)
                else:
                    vel[a] = rng.integers(-max_speed, max_speed + 1)
        positions[t], velocities[t] = pos, vel
        pos = np.clip(pos + vel, 0, limit)  # a step past the wall stops at it; the next step bounces
    return positions, velocities


class StochasticMovingMNIST(Dataset):
    """Clips (T, C, size, size) uint8 and digit classes (num_digits,), generated from (seed, split, index).

    Args:
        digits: uint8 digit images (N, digit_size, digit_size).
        labels: their classes (N,).
        length: number of clips.
        frames: frames per clip.
        size: frame side.
        num_digits: digits per clip.
        max_speed: largest velocity component (pixels per frame).
        channels: output channels (gray repeated to 3 if 3).
        seed: run seed.
        split: 'train', 'val' or 'test' (part of the per-clip seed, so splits never share a clip).
    """

    def __init__(
        self, digits: torch.Tensor, labels: torch.Tensor, length: int, frames: int, size: int,
        num_digits: int, max_speed: int, channels: int, seed: int, split: str,
    ) -> None:  # fmt: skip
        self.digits, self.labels = digits.numpy(), labels.long()
        self.length, self.frames, self.size, self.num_digits = length, frames, size, num_digits
        self.max_speed, self.channels, self.seed, self.split = max_speed, channels, seed, SPLIT_CODE[split]

    def __len__(self) -> int:
        return self.length

    def _draw(self, index: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """Digit indices (num_digits,) and top-left positions (T, 2) of each digit: the clip's random draws."""
        rng = np.random.default_rng([self.seed, self.split, index])
        ids = rng.integers(0, len(self.digits), size=self.num_digits)
        limit = self.size - self.digits.shape[-1]
        return ids, [bounce_trajectory(rng, self.frames, limit, self.max_speed)[0] for _ in ids]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.digits.shape[-1]
        clip = np.zeros((self.frames, self.size, self.size), np.uint8)
        ids, trajectories = self._draw(index)
        for k, positions in zip(ids, trajectories, strict=True):
            for t, (y, x) in enumerate(positions):
                np.maximum(clip[t, y : y + d, x : x + d], self.digits[k], out=clip[t, y : y + d, x : x + d])
        clip_t = fit_channels(torch.from_numpy(clip)[:, None], self.channels)  # (T, C, H, W)
        return clip_t, self.labels[torch.from_numpy(ids)]

    def centres(self, index: int) -> torch.Tensor:
        """Pixel (y, x) of every digit's centre in every frame of clip `index`, (num_digits, T, 2) float, in the
        digits' order of the clip's labels: the targets of digit-location probes."""
        _, trajectories = self._draw(index)
        return torch.from_numpy(np.stack(trajectories)).float() + self.digits.shape[-1] / 2


class StochasticMovingMNISTDataModule(L.LightningDataModule):
    """Stochastic Moving MNIST clips for next-frame prediction.

    Args:
        root: folder holding `MNIST/raw` (`make data`).
        image_size: frame side (64 in the paper); digits are scaled by image_size / 64 unless `digit_size` is set.
        channels: channels given to the model (1, or 3 for gray repeated).
        num_digits: digits per clip (paper: 2).
        context_frames: observed frames (paper: 5).
        future_frames: frames to predict (paper: 10).
        digit_size: digit side in pixels (default 28 * image_size / 64).
        max_speed: largest velocity component in pixels per frame (default 4 * image_size / 64, at least 1).
        train_clips: clips per training epoch (fresh clips each index; the digit pool is MNIST's).
        val_clips: clips of the fixed validation set.
        test_clips: clips of the fixed test set.
        batch_size: per-process batch size.
        num_workers: data-loader workers.
        seed: seed of the held-out digit split and of every clip.
    """

    num_classes: int = 10
    name = "MNIST"

    if TYPE_CHECKING:  # Lightning types `hparams` as a MutableMapping; `save_hyperparameters` makes an AttributeDict

        @property
        def hparams(self) -> AttributeDict: ...

    def __init__(
        self,
        root: str = "data",
        image_size: int = 64,
        channels: int = 1,
        num_digits: int = 2,
        context_frames: int = 5,
        future_frames: int = 10,
        digit_size: int | None = None,
        max_speed: int | None = None,
        train_clips: int = 20000,
        val_clips: int = 256,
        test_clips: int = 1000,
        batch_size: int = 32,
        num_workers: int = 2,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.digit_size = digit_size or max(4, round(28 * image_size / 64))
        self.max_speed = max_speed or max(1, round(4 * image_size / 64))
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if not 0 < self.digit_size < image_size:
            raise ValueError(f"digit_size must be in (0, image_size={image_size}), got {self.digit_size}")
        if num_digits < 1 or context_frames < 1 or future_frames < 1:
            raise ValueError("num_digits, context_frames and future_frames must all be >= 1")
        if min(train_clips, val_clips, test_clips, batch_size) < 1:
            raise ValueError("train_clips, val_clips, test_clips and batch_size must be >= 1")
        self.root, self.image_size, self.channels, self.num_digits = root, image_size, channels, num_digits
        self.context_frames, self.future_frames = context_frames, future_frames
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.sets: dict[str, StochasticMovingMNIST] = {}

    def _digits(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if not os.path.isdir(os.path.join(self.root, "MNIST", "raw")):
            raise missing_data_error(self.name, os.path.join(self.root, "MNIST", "raw"))
        try:
            ds = datasets.MNIST(self.root, train=train, download=False)
        except RuntimeError as err:
            raise missing_data_error(self.name, os.path.join(self.root, "MNIST", "raw")) from err
        images = resize_uint8(ds.data.unsqueeze(1), self.digit_size)[:, 0]  # (N, d, d)
        return images, ds.targets

    def setup(self, stage: str | None = None) -> None:
        if self.sets:
            return
        hp, frames = self.hparams, self.context_frames + self.future_frames
        images, labels = self._digits(train=True)
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(self.seed))
        n_val = len(images) // 10
        pools = {"train": order[n_val:], "val": order[:n_val]}
        test_images, test_labels = self._digits(train=False)
        for split, n in (("train", hp.train_clips), ("val", hp.val_clips), ("test", hp.test_clips)):
            imgs, labs = (test_images, test_labels) if split == "test" else (images[pools[split]], labels[pools[split]])
            self.sets[split] = StochasticMovingMNIST(
                imgs, labs, n, frames, self.image_size, self.num_digits, self.max_speed, self.channels, self.seed, split
            )

    def _loader(self, split: str) -> DataLoader:
        if not self.sets:
            raise RuntimeError("call setup() before asking for data loaders")
        train, data = split == "train", self.sets[split]
        return DataLoader(
            data, batch_size=self.batch_size, sampler=train_sampler(self, len(data), self.batch_size, self.seed) if train else None,
            drop_last=train and len(data) >= self.batch_size,
            num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
        )  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
