"""Self-supervised methods, one LightningModule per file, all trained by `vision-ssl fit`."""

from vision_ssl.methods.base import SSLMethod
from vision_ssl.methods.simclr import SimCLR

__all__ = ["SSLMethod", "SimCLR"]
