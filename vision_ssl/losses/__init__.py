"""Self-supervised losses: pure functions (with thin module wrappers) citing their papers."""

from vision_ssl.losses.gaussian_kl import gaussian_kl
from vision_ssl.losses.info_nce import InfoNCELoss, info_nce

__all__ = ["InfoNCELoss", "gaussian_kl", "info_nce"]
from vision_ssl.losses.masked_mse import MaskedMSELoss, masked_mse  # noqa: E402

__all__ += ["MaskedMSELoss", "masked_mse"]
