"""On-device view augmentation (SimCLRViews): shapes, dtypes, independence of views, seeded reproducibility."""

from __future__ import annotations

import pytest
import torch

from vision_ssl.data.fake import make_fake_images
from vision_ssl.transforms import Normalize, SimCLRViews


def one_view(size: int, **kwargs) -> SimCLRViews:  # noqa: ANN003
    return SimCLRViews(num_views=1, size=size, **kwargs)


@pytest.fixture
def batch() -> torch.Tensor:
    return make_fake_images(8, 4, 32, 3, seed=0)[0]


def test_shape_dtype_device_kept(batch):
    aug = one_view(24, blur_p=0.5)
    (out,) = aug(batch)
    assert out.shape == (8, 3, 24, 24)
    assert out.dtype == torch.float32 and out.device == batch.device
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1  # [0, 1]: the method normalises


def test_two_calls_give_different_views_per_sample(batch):
    v1, v2 = SimCLRViews(num_views=2, size=32)(batch)
    per_sample = (v1 - v2).flatten(1).abs().mean(1)
    assert (per_sample > 1e-3).all(), "every sample's two views must differ"


def test_independent_draws_per_sample(batch):
    same = batch[:1].expand(8, -1, -1, -1).contiguous()  # one image repeated: only the random draws differ
    out = one_view(32)(same)[0].flatten(1)
    dist = torch.cdist(out, out)
    assert (dist + torch.eye(8) * 1e9 > 1e-3).all(), "two samples of one batch received the same augmentation"


def test_same_seed_same_views(batch):
    aug = one_view(32, blur_p=0.5)
    torch.manual_seed(123)
    (a,) = aug(batch)
    torch.manual_seed(123)
    (b,) = aug(batch)
    torch.manual_seed(124)
    (c,) = aug(batch)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_normalize_roundtrip(batch):
    norm = Normalize()
    x = norm(batch)
    assert torch.allclose(norm.invert(x), batch.float() / 255, atol=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    (dict(size=0), "size"),
    (dict(size=32, crop_scale=(0.5, 0.2)), "crop_scale"),
    (dict(size=32, jitter_p=1.5), "jitter_p"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        one_view(**kwargs)


def test_rejects_one_channel():
    with pytest.raises(ValueError, match="3-channel"):
        one_view(16)(torch.zeros(2, 1, 16, 16, dtype=torch.uint8))
