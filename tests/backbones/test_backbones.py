"""Backbone contract over every registered name: `num_features` matches the output."""

from __future__ import annotations

import pytest
import torch

from vision_ssl.backbones import create_backbone
from vision_ssl.registry import BACKBONES, TIMM_BACKBONES

KWARGS = {"vit_tiny_patch16_224": dict(img_size=32, patch_size=8)}


@pytest.mark.parametrize("name", list(BACKBONES) + list(TIMM_BACKBONES))
def test_num_features_matches_output(name):
    model = create_backbone(name, **KWARGS.get(name, {})).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, model.num_features)


def test_cifar_stem_keeps_resolution():
    model = create_backbone("resnet18", cifar_stem=True)
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, torch.nn.Identity)
    feats = model.forward_features(torch.randn(1, 3, 32, 32))
    assert feats.shape[-1] == 4  # 32 / 8: three stride-2 stages, no stem downsampling


def test_in_chans():
    model = create_backbone("tiny", in_chans=1, width=4)
    assert model(torch.randn(2, 1, 16, 16)).shape == (2, 16)


def test_unknown_name_lists_close_names():
    with pytest.raises(ValueError, match="resnet18") as info:
        create_backbone("resnet81")
    assert "Unknown backbone 'resnet81'" in str(info.value)


def test_cifar_stem_rejected_for_non_resnet():
    with pytest.raises(ValueError, match="cifar_stem"):
        create_backbone("vit_tiny_patch16_224", cifar_stem=True)
