"""View recipes: modules that turn a batch into the list of augmented views a method trains on.

A recipe is injected into any method from YAML (`model.init_args.augment: {class_path: ..., init_args: ...}`),
so `--print_config` shows the recipe actually used. It takes a uint8 or float batch (B, C, H, W) on the device
and returns float views in [0, 1] (the method normalises them). Random parameters are drawn per sample and per
call from torch's generator, which `SSLMethod` seeds from (run seed, rank, step).

`size=None` means "the model's image_size": the method calls `set_size` once when it builds the recipe, so a
recipe written in a config follows `data.image_size` without repeating it.
"""

from __future__ import annotations

from typing import Any

import kornia.augmentation as K
import torch
from torch import nn

from vision_ssl.transforms.views import check_probability, check_scale, color_pipeline, pair, to_float


def _rgb(x: torch.Tensor, recipe: str) -> torch.Tensor:
    x = to_float(x)
    if x.shape[1] != 3:
        raise ValueError(f"{recipe} expects 3-channel images (B, 3, H, W), got shape {tuple(x.shape)}")
    return x


class SimCLRViews(nn.Module):
    """SimCLR's recipe (Chen et al. 2020, Appendix A): random resized crop, flip, colour jitter (p 0.8),
    grayscale (p 0.2), optional blur; `num_views` independent views of every image.

    Args:
        num_views: views per image.
        size: output side (None: the model's image_size).
        crop_scale: area range of the random resized crop.
        jitter_strength: s in the paper.
        jitter_p: probability of colour jitter.
        grayscale_p: probability of grayscale.
        blur_p: probability of Gaussian blur (paper: 0.5 on ImageNet, none on CIFAR).
        hflip_p: probability of a horizontal flip.
    """

    def __init__(
        self,
        num_views: int = 2,
        size: int | None = None,
        crop_scale: tuple[float, float] = (0.08, 1.0),
        jitter_strength: float = 0.5,
        jitter_p: float = 0.8,
        grayscale_p: float = 0.2,
        blur_p: float = 0.0,
        hflip_p: float = 0.5,
    ) -> None:
        super().__init__()
        if num_views < 1:
            raise ValueError(f"num_views must be >= 1, got {num_views}")
        self.num_views, self.size = num_views, size
        self.options: dict[str, Any] = dict(
            crop_scale=pair("crop_scale", crop_scale), jitter_strength=jitter_strength, jitter_p=jitter_p,
            grayscale_p=grayscale_p, blur_p=blur_p, solarize_p=0.0, hflip_p=hflip_p)
        color_pipeline(8, **self.options)  # validate now, not at the first step
        self.pipeline: nn.Module | None = None
        if size is not None:
            self.set_size(size)

    def set_size(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.size, self.pipeline = size, color_pipeline(size, **self.options)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        if self.pipeline is None:
            raise RuntimeError("SimCLRViews has no size: give `size` or call set_size")
        x = _rgb(images, type(self).__name__)
        return [self.pipeline(x) for _ in range(self.num_views)]


class BYOLViews(nn.Module):
    """BYOL's asymmetric pair (Grill et al. 2020, Table 6): both views crop, flip, jitter (0.4, 0.4, 0.2, 0.1
    at p 0.8) and grayscale (p 0.2); blur with p 1.0 / 0.1 and solarisation with p 0 / 0.2.

    Args:
        size: output side (None: the model's image_size).
        crop_scale: area range of the random resized crop (paper: 0.08-1).
        jitter_strength: colour jitter strength s (BYOL's 0.4/0.4/0.2/0.1 is s = 0.5 with saturation 0.2).
        blur_p: blur probability of the two views (paper: 1.0, 0.1).
        solarize_p: solarisation probability of the two views (paper: 0.0, 0.2).
    """

    num_views = 2

    def __init__(
        self,
        size: int | None = None,
        crop_scale: tuple[float, float] = (0.08, 1.0),
        jitter_strength: float = 0.5,
        blur_p: tuple[float, float] = (1.0, 0.1),
        solarize_p: tuple[float, float] = (0.0, 0.2),
    ) -> None:
        super().__init__()
        if len(blur_p) != 2 or len(solarize_p) != 2:
            raise ValueError(f"blur_p and solarize_p need one value per view (2), got {blur_p} and {solarize_p}")
        self.size, self.crop_scale, self.jitter_strength = size, pair("crop_scale", crop_scale), jitter_strength
        self.blur_p, self.solarize_p = pair("blur_p", blur_p), pair("solarize_p", solarize_p)
        self.pipelines = nn.ModuleList()
        for blur, solar in zip(self.blur_p, self.solarize_p, strict=True):  # validate now, not at the first step
            color_pipeline(8, self.crop_scale, jitter_strength, 0.8, 0.2, blur, solar, 0.5)
        if size is not None:
            self.set_size(size)

    def set_size(self, size: int) -> None:
        self.size = size
        self.pipelines = nn.ModuleList(
            color_pipeline(size, self.crop_scale, self.jitter_strength, 0.8, 0.2, blur, solar, 0.5)
            for blur, solar in zip(self.blur_p, self.solarize_p, strict=True)
        )

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        if not len(self.pipelines):
            raise RuntimeError("BYOLViews has no size: give `size` or call set_size")
        x = _rgb(images, type(self).__name__)
        return [pipeline(x) for pipeline in self.pipelines]


class CropFlipViews(nn.Module):
    """Random resized crop and horizontal flip only (MAE, I-JEPA and the context pretexts); works on any channels.

    Args:
        num_views: views per image.
        size: output side (None: the model's image_size).
        crop_scale: area range of the crop (MAE: 0.2-1; 1-1 keeps the whole image).
        hflip_p: probability of a horizontal flip.
    """

    def __init__(self, num_views: int = 1, size: int | None = None, crop_scale: tuple[float, float] = (0.2, 1.0),
                 hflip_p: float = 0.5) -> None:
        super().__init__()
        if num_views < 1:
            raise ValueError(f"num_views must be >= 1, got {num_views}")
        check_scale("crop_scale", crop_scale)
        check_probability(hflip_p=hflip_p)
        self.num_views, self.size, self.hflip_p = num_views, size, hflip_p
        self.crop_scale = pair("crop_scale", crop_scale)
        self.pipeline: nn.Module | None = None
        if size is not None:
            self.set_size(size)

    def set_size(self, size: int) -> None:
        self.size = size
        self.pipeline = K.AugmentationSequential(
            K.RandomResizedCrop((size, size), scale=self.crop_scale), K.RandomHorizontalFlip(p=self.hflip_p)
        )

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        if self.pipeline is None:
            raise RuntimeError("CropFlipViews has no size: give `size` or call set_size")
        x = to_float(images)
        return [self.pipeline(x) for _ in range(self.num_views)]


class MultiCropViews(nn.Module):
    """Multi-crop (Caron et al. 2020, SwAV; DINO): `num_global` large crops then `num_local` small ones, each
    with SimCLR's colour recipe. The global crops come first in the returned list.

    Args:
        num_global: global crops (DINO: 2).
        num_local: local crops (DINO: 6-10).
        size: side of the global crops (None: the model's image_size).
        local_size: side of the local crops (None: 3/7 of `size`, DINO's 96/224).
        global_scale: area range of the global crops (DINO: 0.4-1, or 0.25-1 for small images).
        local_scale: area range of the local crops (DINO: 0.05-0.4).
        jitter_strength: colour jitter strength s.
        grayscale_p: probability of grayscale.
        blur_p: probability of blur (global, local); DINO uses 1.0/0.1 on the globals and 0.5 on the locals.
        solarize_p: probability of solarisation on the second global crop (DINO: 0.2).
    """

    def __init__(
        self,
        num_global: int = 2,
        num_local: int = 6,
        size: int | None = None,
        local_size: int | None = None,
        global_scale: tuple[float, float] = (0.4, 1.0),
        local_scale: tuple[float, float] = (0.05, 0.4),
        jitter_strength: float = 0.5,
        grayscale_p: float = 0.2,
        blur_p: tuple[float, float] = (0.0, 0.0),
        solarize_p: float = 0.2,
    ) -> None:
        super().__init__()
        if num_global < 1 or num_local < 0:
            raise ValueError(f"need num_global >= 1 and num_local >= 0, got {num_global} and {num_local}")
        if local_size is not None and local_size < 1:
            raise ValueError(f"local_size must be >= 1, got {local_size}")
        self.num_global, self.num_local, self.num_views = num_global, num_local, num_global + num_local
        self.size, self.local_size = size, local_size
        self.global_scale, self.local_scale = pair("global_scale", global_scale), pair("local_scale", local_scale)
        self.jitter_strength, self.grayscale_p = jitter_strength, grayscale_p
        self.blur_p, self.solarize_p = pair("blur_p", blur_p), solarize_p
        self.globals = nn.ModuleList()
        self.local: nn.Module | None = None
        color_pipeline(8, self.global_scale, jitter_strength, 0.8, grayscale_p, self.blur_p[0], solarize_p, 0.5)
        color_pipeline(8, self.local_scale, jitter_strength, 0.8, grayscale_p, self.blur_p[1], 0.0, 0.5)
        if size is not None:
            self.set_size(size)

    def set_size(self, size: int) -> None:
        self.size = size
        local = self.local_size or max(4, round(size * 3 / 7))
        self.local_size = local
        blur, s = self.blur_p, self.jitter_strength
        self.globals = nn.ModuleList(  # the second global crop is the one that may be solarised, as in DINO
            color_pipeline(size, self.global_scale, s, 0.8, self.grayscale_p, blur[0], self.solarize_p if i == 1 else 0.0, 0.5)
            for i in range(self.num_global)
        )
        self.local = color_pipeline(local, self.local_scale, s, 0.8, self.grayscale_p, blur[1], 0.0, 0.5)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        if self.local is None:
            raise RuntimeError("MultiCropViews has no size: give `size` or call set_size")
        x = _rgb(images, type(self).__name__)
        return [g(x) for g in self.globals] + [self.local(x) for _ in range(self.num_local)]
