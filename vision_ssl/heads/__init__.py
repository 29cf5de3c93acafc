"""Reusable heads: the MLP builder, per-method presets and pretext heads."""

from vision_ssl.heads.mlp import mlp, simclr_projector

__all__ = ["mlp", "simclr_projector"]
