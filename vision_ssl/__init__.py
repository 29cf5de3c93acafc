"""vision_ssl: self-supervised visual pretraining on PyTorch Lightning."""

__version__ = "0.1.0"
