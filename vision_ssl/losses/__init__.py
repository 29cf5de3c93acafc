"""Self-supervised losses: pure functions (with thin module wrappers) citing their papers."""

from vision_ssl.losses.gaussian_kl import gaussian_kl
from vision_ssl.losses.info_nce import InfoNCELoss, info_nce

__all__ = ["InfoNCELoss", "gaussian_kl", "info_nce"]
from vision_ssl.losses.masked_mse import masked_mse  # noqa: E402

__all__ += ["masked_mse"]
from vision_ssl.losses.barlow_twins import BarlowTwinsLoss, barlow_twins_loss  # noqa: E402
from vision_ssl.losses.moco_v3 import MoCoV3Loss, moco_v3_loss  # noqa: E402
from vision_ssl.losses.negative_cosine import NegativeCosineSimilarity, negative_cosine_similarity  # noqa: E402
from vision_ssl.losses.queue_info_nce import QueueInfoNCELoss, info_nce_with_queue  # noqa: E402
from vision_ssl.losses.vicreg import VICRegLoss, vicreg_loss, vicreg_terms  # noqa: E402

__all__ += ["BarlowTwinsLoss", "barlow_twins_loss", "MoCoV3Loss", "moco_v3_loss", "NegativeCosineSimilarity",
            "negative_cosine_similarity", "QueueInfoNCELoss", "info_nce_with_queue", "VICRegLoss", "vicreg_loss",
            "vicreg_terms"]
from vision_ssl.losses.dino import DINOLoss, dino_loss, teacher_temperature  # noqa: E402
from vision_ssl.losses.sigreg import epps_pulley, invariance_loss, lejepa_loss, sigreg  # noqa: E402

__all__ += ["DINOLoss", "dino_loss", "teacher_temperature", "epps_pulley", "invariance_loss", "lejepa_loss", "sigreg"]
from vision_ssl.losses.variance_covariance import variance_covariance  # noqa: E402, F401
