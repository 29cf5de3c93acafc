"""The video data module: a real clip (OpenCV's vtest.avi, fetched by `make data`) and a frame-image folder."""

from __future__ import annotations

import os

import torch
from helpers import DATA_ROOT
from torchvision.io import write_png

from vision_ssl.data.fetch import fetch_vtest
from vision_ssl.data.video import VideoClipDataModule


def test_decodes_a_real_video_into_clips():
    path = fetch_vtest(DATA_ROOT)  # no-op when `make data` already fetched it
    dm = VideoClipDataModule(
        root=os.path.dirname(path), image_size=32, context_frames=3, future_frames=2, max_frames=30, batch_size=4
    )
    dm.setup()
    assert len(dm.sets["train"]) == 24 - 5 + 1 and len(dm.sets["val"]) == 1  # 24 + 6 frames, windows of 5
    clips, labels = next(iter(dm.train_dataloader()))
    assert clips.shape == (4, 5, 3, 32, 32) and clips.dtype == torch.uint8
    assert (labels == -1).all()
    frames = clips.float()
    assert frames.std() > 10  # a real scene, not a blank frame
    step = (frames[:, 1:] - frames[:, :-1]).abs().mean()
    assert 0 < step < 0.5 * (frames - frames.flip(-1)).abs().mean()  # people move, the street stays: frames in order


def test_frame_folder_needs_no_decoder(tmp_path):
    g = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (9, 3, 16, 16), dtype=torch.uint8, generator=g)
    os.makedirs(tmp_path / "clip")
    for i, frame in enumerate(frames):
        write_png(frame, str(tmp_path / "clip" / f"{i:04d}.png"))
    dm = VideoClipDataModule(root=str(tmp_path), image_size=16, context_frames=2, future_frames=1, val_fraction=0.34)
    dm.setup()
    assert len(dm.sets["train"]) == 4 and len(dm.sets["val"]) == 1  # frames 0-5 for training, 6-8 held out
    clip, _ = dm.sets["train"][2]
    assert torch.equal(clip, frames[2:5])  # PNG is lossless and no resize is needed: exact frames, in order
    assert torch.equal(dm.sets["val"][0][0], frames[6:9])
