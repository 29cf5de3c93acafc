"""`python -m benchmarks.video next-frame`'s trivial rows: the last observed frame repeated and a blank frame, scored with the
same metrics as the predictors, so a reader can tell an SSIM that a blank frame also reaches."""

from __future__ import annotations

import argparse

import torch

from benchmarks.lib import next_frame
from tests.helpers import DATA_ROOT
from vision_ssl.metrics.video import ssim_per_frame


def test_trivial_baselines_score_the_copied_and_the_blank_frame():
    args = argparse.Namespace(root=DATA_ROOT, image_size=16, digits=2, context=3, future=2, steps=1, batch_size=4,
                              test_clips=8, seed=0)
    rows = next_frame.trivial_baselines(args)
    assert list(rows) == list(next_frame.TRIVIAL)
    copy, blank = rows["copy the last observed frame"], rows["blank frame"]
    assert all(v == 0 for v in blank["sharpness_ratio"]) and copy["diversity"] == blank["diversity"] == [0.0]
    dm = next_frame.data_module(args)
    dm.setup("test")
    future = torch.cat([clips for clips, _ in dm.test_dataloader()]).float()[:, 3:] / 255
    expected = ssim_per_frame(torch.zeros_like(future), future, 1.0).mean(0)  # (T,): blank against the truth
    torch.testing.assert_close(torch.tensor(blank["ssim"]), expected, atol=1e-5, rtol=0)
    assert 0 < min(copy["ssim"]) < 1 and len(copy["ssim"]) == 2
