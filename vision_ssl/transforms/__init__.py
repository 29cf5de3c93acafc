"""On-device batched augmentations (kornia) and pure tensor pretext operations."""

from vision_ssl.transforms.views import IMAGENET_MEAN, IMAGENET_STD, Normalize, color_pipeline, to_float

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "Normalize", "color_pipeline", "to_float"]
from vision_ssl.transforms.pretext import (  # noqa: E402
    center_patch_mask,
    hamming_permutations,
    make_jigsaw,
    mask_to_pixels,
    min_hamming_distance,
    patchify,
    permute_tiles,
    random_patch_mask,
    random_patch_split,
    rotate_batch,
    unpatchify,
    unpermute_tiles,
)

__all__ += [
    "center_patch_mask", "hamming_permutations", "make_jigsaw", "mask_to_pixels", "min_hamming_distance", "patchify",
    "permute_tiles", "random_patch_mask", "random_patch_split", "rotate_batch", "unpatchify", "unpermute_tiles",
]
from vision_ssl.transforms.recipes import BYOLViews, CropFlipViews, MultiCropViews, SimCLRViews  # noqa: E402

__all__ += ["BYOLViews", "CropFlipViews", "MultiCropViews", "SimCLRViews"]
