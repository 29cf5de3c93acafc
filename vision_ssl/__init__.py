"""vision_ssl: self-supervised visual pretraining on PyTorch Lightning.

The Python API (`vision_ssl/api.py`) is imported on first use, so `import vision_ssl` stays cheap:

    vision_ssl.list_methods()                      vision_ssl.create_method("simclr", backbone="tiny")
    vision_ssl.train("simclr", "photos/", out="runs/photos")   -> path of last.ckpt
    vision_ssl.load_encoder("runs/photos/checkpoints/last.ckpt")
    vision_ssl.embed(encoder, images)              -> (N, D) features
    vision_ssl.export_backbone(checkpoint, "encoder.pt")   -> the line that loads it (timm for timm backbones)
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
API = ("create_method", "embed", "export_backbone", "list_methods", "load_encoder", "train", "PretrainedEncoder")
__all__ = [*API, "__version__"]


def __getattr__(name: str) -> Any:
    if name in API:
        from vision_ssl import api

        return getattr(api, name)
    raise AttributeError(f"module 'vision_ssl' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted([*globals(), *API])
