"""Reusable heads: the MLP builder, per-method presets and pretext heads."""

from vision_ssl.heads.mlp import mlp, simclr_projector

__all__ = ["mlp", "simclr_projector"]
from vision_ssl.heads.presets import (  # noqa: E402
    barlow_twins_projector,
    byol_projector,
    mocov2_projector,
    mocov3_predictor,
    mocov3_projector,
    simsiam_predictor,
    simsiam_projector,
    vicreg_expander,
)

__all__ += ["barlow_twins_projector", "byol_projector", "mocov2_projector", "mocov3_predictor", "mocov3_projector",
            "simsiam_predictor", "simsiam_projector", "vicreg_expander"]
from vision_ssl.heads.mae_decoder import MAEDecoder  # noqa: E402
from vision_ssl.heads.pretext import ConvDecoder, JigsawHead, rotation_head  # noqa: E402

__all__ += ["ConvDecoder", "JigsawHead", "MAEDecoder", "rotation_head"]
from vision_ssl.heads.presets import DINOHead  # noqa: E402

__all__ += ["DINOHead"]
from vision_ssl.heads.jepa_predictor import JEPAPredictor  # noqa: E402

__all__ += ["JEPAPredictor"]
