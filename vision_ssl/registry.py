"""Short names for backbones, methods and data modules. Tests iterate over these tables.

`BACKBONES` maps our own names to constructors taking `in_chans` and keyword options; any timm model name is
accepted by `create_backbone` as well. `TIMM_BACKBONES` lists the timm models we test the contract on.
`METHODS` and `DATAMODULES` map short names to import paths (resolved lazily so `import vision_ssl` stays
cheap); the CLI's `--model` and `--data` accept a short name (`--model simclr`), a class name or a full `class_path`.
"""

from __future__ import annotations

import importlib

from vision_ssl.backbones import BACKBONES  # the factory owns its table; listed here with the others

__all__ = ["BACKBONES", "DATAMODULES", "METHODS", "TIMM_BACKBONES", "resolve", "short_class_paths"]

TIMM_BACKBONES: tuple[str, ...] = ("resnet18", "resnet50", "vit_tiny_patch16_224", "efficientnet_lite0")

METHODS: dict[str, str] = {
    "simclr": "vision_ssl.methods.simclr.SimCLR",
    "supervised": "vision_ssl.methods.supervised.Supervised",
    "mocov2": "vision_ssl.methods.mocov2.MoCoV2",
    "mocov3": "vision_ssl.methods.mocov3.MoCoV3",
    "byol": "vision_ssl.methods.byol.BYOL",
    "simsiam": "vision_ssl.methods.simsiam.SimSiam",
    "barlow_twins": "vision_ssl.methods.barlow_twins.BarlowTwins",
    "vicreg": "vision_ssl.methods.vicreg.VICReg",
    "rotation": "vision_ssl.methods.rotation.Rotation",
    "jigsaw": "vision_ssl.methods.jigsaw.Jigsaw",
    "inpainting": "vision_ssl.methods.inpainting.Inpainting",
    "mae": "vision_ssl.methods.mae.MAE",
    "next_frame": "vision_ssl.methods.next_frame.NextFramePredictor",
    "dino": "vision_ssl.methods.dino.DINO",
    "lejepa": "vision_ssl.methods.lejepa.LeJEPA",
    "ijepa": "vision_ssl.methods.ijepa.IJEPA",
    "video_jepa": "vision_ssl.methods.video_jepa.VideoJEPA",
}

# Methods trained on clips; every other method learns from still images and has a `configs/<name>_fashion_mnist.yaml`
# recipe (`vision_ssl.recipes`) scored by the linear-probe protocol.
VIDEO_METHODS: tuple[str, ...] = ("next_frame", "video_jepa")
IMAGE_METHODS: tuple[str, ...] = tuple(m for m in METHODS if m not in VIDEO_METHODS)

DATAMODULES: dict[str, str] = {
    "fashion_mnist": "vision_ssl.data.torchvision_data.FashionMNISTDataModule",
    "mnist": "vision_ssl.data.torchvision_data.MNISTDataModule",
    "cifar10": "vision_ssl.data.torchvision_data.CIFAR10DataModule",
    "cifar100": "vision_ssl.data.torchvision_data.CIFAR100DataModule",
    "stl10": "vision_ssl.data.torchvision_data.STL10DataModule",
    "image_folder": "vision_ssl.data.image_folder.ImageFolderDataModule",
    "unlabeled_folder": "vision_ssl.data.unlabeled_folder.UnlabeledFolderDataModule",
    "fake": "vision_ssl.data.fake.FakeDataModule",
    "moving_mnist": "vision_ssl.data.moving_mnist.StochasticMovingMNISTDataModule",
    "video": "vision_ssl.data.video.VideoClipDataModule",
}


def resolve(table: dict[str, str], name: str, kind: str) -> type:
    """Import the class registered under `name` in `table`; unknown names list the valid ones."""
    if name not in table:
        raise ValueError(f"Unknown {kind} '{name}'. Valid {kind} names: {', '.join(sorted(table))}")
    module, _, attr = table[name].rpartition(".")
    return getattr(importlib.import_module(module), attr)


def short_class_paths(args: list[str]) -> list[str]:
    """CLI arguments with `--model NAME` / `--data NAME` (or `--model=NAME`) short names replaced by class paths."""
    tables = {"--model": METHODS, "--data": DATAMODULES}
    out = list(args)
    for i, arg in enumerate(out):
        flag, eq, value = arg.partition("=")
        if flag not in tables:
            continue
        if eq and value in tables[flag]:
            out[i] = f"{flag}={tables[flag][value]}"
        elif not eq and i + 1 < len(out) and out[i + 1] in tables[flag]:
            out[i + 1] = tables[flag][out[i + 1]]
    return out
