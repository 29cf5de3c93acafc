"""On-device batched augmentations (kornia) and pure tensor pretext operations."""

from vision_ssl.transforms.views import IMAGENET_MEAN, IMAGENET_STD, Normalize, SimCLRAugment, to_float

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "Normalize", "SimCLRAugment", "to_float"]
