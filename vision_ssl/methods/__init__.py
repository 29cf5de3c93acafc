"""Self-supervised methods, one LightningModule per file, all trained by `vision-ssl fit`."""

from vision_ssl.methods.base import SSLMethod
from vision_ssl.methods.simclr import SimCLR

__all__ = ["SSLMethod", "SimCLR"]
from vision_ssl.methods.barlow_twins import BarlowTwins  # noqa: E402
from vision_ssl.methods.byol import BYOL  # noqa: E402
from vision_ssl.methods.mocov2 import MoCoV2  # noqa: E402
from vision_ssl.methods.mocov3 import MoCoV3  # noqa: E402
from vision_ssl.methods.simsiam import SimSiam  # noqa: E402
from vision_ssl.methods.vicreg import VICReg  # noqa: E402

__all__ += ["BYOL", "BarlowTwins", "MoCoV2", "MoCoV3", "SimSiam", "VICReg"]

from vision_ssl.methods.next_frame import NextFramePredictor  # noqa: E402

__all__ += ["NextFramePredictor"]
from vision_ssl.methods.supervised import Supervised  # noqa: E402

__all__ += ["Supervised"]
from vision_ssl.methods.inpainting import Inpainting  # noqa: E402
from vision_ssl.methods.jigsaw import Jigsaw  # noqa: E402
from vision_ssl.methods.mae import MAE  # noqa: E402
from vision_ssl.methods.rotation import Rotation  # noqa: E402

__all__ += ["MAE", "Inpainting", "Jigsaw", "Rotation"]
from vision_ssl.methods.dino import DINO  # noqa: E402
from vision_ssl.methods.ijepa import IJEPA  # noqa: E402
from vision_ssl.methods.lejepa import LeJEPA  # noqa: E402

__all__ += ["DINO", "IJEPA", "LeJEPA"]
from vision_ssl.methods.video_jepa import VideoJEPA  # noqa: E402, F401  (registered for `class_path: VideoJEPA`)
