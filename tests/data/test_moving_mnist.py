"""Stochastic Moving MNIST: fixed clips per (seed, index), digits inside the frame, random re-direction at walls."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import DATA_ROOT

from vision_ssl.data.moving_mnist import (
    StochasticMovingMNIST,
    StochasticMovingMNISTDataModule,
    bounce_trajectory,
)


def _toy_dataset(num_digits: int = 1, seed: int = 0, split: str = "train", frames: int = 12) -> StochasticMovingMNIST:
    digits = torch.zeros(3, 6, 6, dtype=torch.uint8)
    for k in range(3):
        digits[k, 1:5, k : k + 3] = 50 * (k + 1)  # three distinct non-empty "digits"
    return StochasticMovingMNIST(digits, torch.tensor([7, 8, 9]), 50, frames, 20, num_digits, 3, 1, seed, split)


def test_clips_are_deterministic_per_index_and_seed():
    ds = _toy_dataset(num_digits=2)
    clip, labels = ds[5]
    again, labels_again = _toy_dataset(num_digits=2)[5]
    assert torch.equal(clip, again) and torch.equal(labels, labels_again)
    assert not torch.equal(clip, ds[6][0])
    assert not torch.equal(clip, _toy_dataset(num_digits=2, seed=1)[5][0])
    assert not torch.equal(clip, _toy_dataset(num_digits=2, split="val")[5][0])
    assert clip.shape == (12, 1, 20, 20) and clip.dtype == torch.uint8
    assert labels.shape == (2,) and set(labels.tolist()) <= {7, 8, 9}


def test_digits_stay_inside_the_frame():
    ds = _toy_dataset(num_digits=1, frames=40)
    for i in range(20):
        clip, label = ds[i]
        digit = ds.digits[int(label) - 7]
        # one digit, overlaid on black: every frame holds the whole digit (nothing cut off at a border)
        assert (clip.flatten(1).sum(1) == int(digit.astype(np.int64).sum())).all()
    for seed in range(50):
        pos, _ = bounce_trajectory(np.random.default_rng(seed), 60, limit=14, max_speed=4)
        assert pos.min() >= 0 and pos.max() <= 14


def test_wall_hit_gives_a_new_random_velocity_away_from_the_wall():
    hits, speeds_after = 0, set()
    for seed in range(100):
        pos, vel = bounce_trajectory(np.random.default_rng(seed), 40, limit=14, max_speed=4)
        for t in range(1, 40):
            for axis in range(2):
                at_low, at_high = pos[t, axis] == 0, pos[t, axis] == 14
                came_in = (at_low and vel[t - 1, axis] < 0) or (at_high and vel[t - 1, axis] > 0)
                if came_in:
                    hits += 1
                    assert vel[t, axis] > 0 if at_low else vel[t, axis] < 0, (seed, t, axis)
                    speeds_after.add((abs(int(vel[t, axis])), int(vel[t, 1 - axis])))
        assert (np.abs(vel) <= 4).all()
    assert hits > 100
    assert len(speeds_after) > 10  # the new velocity is random, not a mirror of the old one


def test_data_module_on_real_mnist_and_missing_data(tmp_path):
    dm = StochasticMovingMNISTDataModule(
        root=DATA_ROOT, image_size=32, context_frames=3, future_frames=2, train_clips=8, val_clips=4, test_clips=4,
        batch_size=4, num_workers=0,
    )  # fmt: skip
    dm.setup()
    clips, digits = next(iter(dm.val_dataloader()))
    assert clips.shape == (4, 5, 1, 32, 32) and clips.dtype == torch.uint8
    assert digits.shape == (4, 2) and digits.min() >= 0 and digits.max() <= 9
    assert torch.equal(clips, next(iter(dm.val_dataloader()))[0])  # the validation set is fixed
    assert clips.float().mean() > 5  # digits are drawn
    assert dm.num_classes == 10
    with pytest.raises(FileNotFoundError, match="make data"):
        StochasticMovingMNISTDataModule(root=str(tmp_path)).setup()
