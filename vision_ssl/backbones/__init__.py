"""Backbone factory: `create_backbone(name, **kw)` returns an `nn.Module` mapping images (B, C, H, W) to
features (B, num_features), with the attribute `num_features`.

Names are our own short names (`BACKBONES`, e.g. `tiny`; listed again in `vision_ssl.registry`) or any timm
model name, created with its classifier removed (`num_classes=0`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

import timm
from torch import nn

from vision_ssl.backbones.tiny import TinyConvNet

# Defined here, not in `vision_ssl.registry`, so that the factory does not import the registry that imports it.
BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "tiny": TinyConvNet,
}


def _apply_cifar_stem(model: nn.Module, name: str) -> None:
    """Replace a ResNet's 7x7/2 stem and max-pool by a 3x3/1 conv (for 32x32 images, as in SimCLR's CIFAR runs)."""
    conv1 = getattr(model, "conv1", None)
    if not isinstance(conv1, nn.Conv2d) or not hasattr(model, "maxpool"):
        raise ValueError(
            f"cifar_stem=True needs a ResNet-style backbone with `conv1` and `maxpool`; '{name}' has neither. "
            "Use a resnet*/resnext*/wide_resnet* name or cifar_stem=False."
        )
    model.conv1 = nn.Conv2d(conv1.in_channels, conv1.out_channels, 3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()


def backbone_names() -> list[str]:
    """Our registered short names followed by every timm model name."""
    return list(BACKBONES) + timm.list_models()


def create_backbone(
    name: str, cifar_stem: bool = False, pretrained: bool = False, in_chans: int = 3, **kwargs: Any
) -> nn.Module:
    """Create a feature extractor by name.

    Args:
        name: a name in `BACKBONES` or any timm model name.
        cifar_stem: 3x3 stride-1 first conv and no max-pool (ResNets), for 32x32-96x96 images.
        pretrained: load timm's pretrained weights (needs the weights to be reachable or cached).
        in_chans: input channels.
        **kwargs: passed to the model constructor (e.g. `width` for `tiny`, `img_size` for ViTs).

    Raises:
        ValueError: unknown name (the message lists close valid names) or an unsupported option.
    """
    if name in BACKBONES:
        if pretrained or cifar_stem:
            raise ValueError(f"backbone '{name}' supports neither pretrained=True nor cifar_stem=True")
        model = BACKBONES[name](in_chans=in_chans, **kwargs)
    elif timm.is_model(name):
        model = timm.create_model(name, pretrained=pretrained, num_classes=0, in_chans=in_chans, **kwargs)
        if cifar_stem:
            _apply_cifar_stem(model, name)
    else:
        close = difflib.get_close_matches(name, backbone_names(), n=5, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"Unknown backbone '{name}'. Use one of {sorted(BACKBONES)} or any timm model name "
            f"(timm.list_models()).{hint}"
        )
    if not isinstance(getattr(model, "num_features", None), int):
        raise TypeError(f"backbone '{name}' does not expose an integer `num_features`")
    return model


def num_features_of(backbone: nn.Module) -> int:
    """The feature width of a backbone: its integer `num_features` (the contract of `create_backbone`)."""
    n = getattr(backbone, "num_features", None)
    if not isinstance(n, int):
        raise TypeError(f"{type(backbone).__name__} does not expose an integer `num_features`")
    return n


__all__ = ["BACKBONES", "TinyConvNet", "backbone_names", "create_backbone", "num_features_of"]
