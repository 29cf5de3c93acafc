"""One recipe per method, shared by both sides of the peer-parity benchmark: the vision_ssl run gets it as a
`vision-ssl fit` config (the normal CLI path, `vision_ssl.cli.build_cli`), the LightlySSL loop
(`parity_lightly.py`) as constructor arguments of lightly's heads, losses and transforms.

Widths, temperature and momentum follow the CPU recipe of `METHOD_ARGS` (tests/helpers.py) where lightly's heads
can express it; SimSiam's projector is 3 layers because `SimSiamProjectionHead` has no other depth, and MoCo v2
is asymmetric (query of view 1 against key of view 2) as lightly's example is. Views: SimCLR's (crop (0.2, 1),
jitter 0.5 with p 0.8, grayscale 0.2, flip, no blur) for every two-view method, on both sides, as `build_method`
trains them. Normalisation: Fashion-MNIST's own mean / std on both sides and in the evaluator.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

FMNIST_MEAN, FMNIST_STD = (0.286, 0.286, 0.286), (0.353, 0.353, 0.353)


@dataclass(frozen=True)
class Recipe:
    """What both implementations share (the budget is filled in by `peer_parity.py`)."""

    hidden: int = 512
    out: int = 128
    temperature: float = 0.2
    queue: int = 1024
    momentum: float = 0.99
    final_momentum: float = 1.0
    pred_hidden: int = 128
    lambda_offdiag: float = 5e-3
    mask_ratio: float = 0.75
    decoder_dim: int = 128
    decoder_depth: int = 1
    decoder_heads: int = 4
    backbone: str = "tiny"
    backbone_kwargs: dict[str, Any] = field(default_factory=lambda: {"width": 16})
    image_size: int = 28
    crop_scale: tuple[float, float] = (0.2, 1.0)
    jitter_strength: float = 0.5
    jitter_p: float = 0.8
    grayscale_p: float = 0.2
    mean: tuple[float, ...] = FMNIST_MEAN
    std: tuple[float, ...] = FMNIST_STD
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.5
    batch_size: int = 256
    epochs: int = 3
    samples: int = 8192


RECIPES: dict[str, Recipe] = {
    "simclr": Recipe(),
    "mocov2": Recipe(),
    "byol": Recipe(hidden=2048, out=256),
    "simsiam": Recipe(out=512, pred_hidden=128),
    "barlow_twins": Recipe(out=512),
    "vicreg": Recipe(out=512),
    # MAE: the ViT of METHOD_ARGS (ViT-Tiny width, 6 blocks, 4x4 patches, mean-pooled), crop + flip views, AdamW
    # 1e-3 / wd 0.05; raw-pixel targets as lightly's example (norm_pix off on our side for the comparison).
    "mae": Recipe(backbone="vit_tiny_patch16_224",
                  backbone_kwargs={"img_size": 28, "patch_size": 4, "depth": 6, "global_pool": "avg"},
                  lr=1e-3, weight_decay=0.05),
}
CLASS_PATHS = {
    "simclr": "vision_ssl.methods.SimCLR", "mocov2": "vision_ssl.methods.MoCoV2", "byol": "vision_ssl.methods.BYOL",
    "simsiam": "vision_ssl.methods.SimSiam", "barlow_twins": "vision_ssl.methods.BarlowTwins",
    "vicreg": "vision_ssl.methods.VICReg", "mae": "vision_ssl.methods.MAE",
}


def method_args(method: str, r: Recipe) -> dict[str, Any]:
    """The method's own constructor arguments on the vision_ssl side."""
    return {
        "simclr": lambda: dict(proj_hidden_dim=r.hidden, proj_output_dim=r.out, temperature=r.temperature),
        "mocov2": lambda: dict(proj_hidden_dim=r.hidden, proj_output_dim=r.out, temperature=r.temperature,
                               queue_size=r.queue, momentum=r.momentum, symmetric=False),
        "byol": lambda: dict(proj_hidden_dim=r.hidden, proj_output_dim=r.out, base_momentum=r.momentum,
                             final_momentum=r.final_momentum),
        "simsiam": lambda: dict(proj_hidden_dim=r.hidden, proj_output_dim=r.out, proj_num_layers=3,
                                pred_hidden_dim=r.pred_hidden),
        "barlow_twins": lambda: dict(proj_hidden_dim=r.hidden, proj_output_dim=r.out, lambda_offdiag=r.lambda_offdiag),
        "vicreg": lambda: dict(proj_hidden_dim=r.hidden, proj_output_dim=r.out),
        "mae": lambda: dict(mask_ratio=r.mask_ratio, norm_pix=False, decoder_dim=r.decoder_dim,
                            decoder_depth=r.decoder_depth, decoder_heads=r.decoder_heads),
    }[method]()


def vision_ssl_config(method: str, r: Recipe, seed: int, root: str, run_dir: str) -> dict[str, Any]:
    """A `vision-ssl fit` config (as a dict, written to YAML) training `method` with recipe `r`."""
    views = {"class_path": "vision_ssl.transforms.SimCLRViews", "init_args": {
        "crop_scale": list(r.crop_scale), "jitter_strength": r.jitter_strength, "jitter_p": r.jitter_p,
        "grayscale_p": r.grayscale_p, "blur_p": 0.0}}
    if method == "mae":
        views = {"class_path": "vision_ssl.transforms.CropFlipViews", "init_args": {"crop_scale": list(r.crop_scale)}}
    return {
        "seed_everything": seed,
        "trainer": {"max_epochs": r.epochs, "accelerator": "cpu", "devices": 1, "precision": "32-true",
                    "logger": {"class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                               "init_args": {"save_dir": run_dir, "name": "tb"}}, "enable_progress_bar": False, "enable_model_summary": False,
                    "num_sanity_val_steps": 0, "limit_val_batches": 0,
                    "callbacks": [{"class_path": "vision_ssl.utils.callbacks.Throughput"}]},
        "model": {"class_path": CLASS_PATHS[method], "init_args": {
            "backbone": r.backbone, "backbone_kwargs": dict(r.backbone_kwargs), "warmup_epochs": r.warmup_epochs,
            "mean": list(r.mean), "std": list(r.std),
            "augment": views,
            "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": r.lr, "weight_decay": r.weight_decay}},
            **method_args(method, r)}},
        "data": {"class_path": "vision_ssl.data.FashionMNISTDataModule", "init_args": {
            "root": root, "image_size": r.image_size, "batch_size": r.batch_size, "num_workers": 0,
            "max_train_samples": r.samples, "seed": 0}},
        "checkpoint": {"dirpath": run_dir, "monitor": None, "save_top_k": 0},
    }


def with_budget(method: str, epochs: int, samples: int, batch_size: int) -> Recipe:
    return replace(RECIPES[method], epochs=epochs, samples=samples, batch_size=batch_size)


def as_record(r: Recipe) -> dict[str, Any]:
    return asdict(r)
