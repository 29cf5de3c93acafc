"""One recipe per method, shared by both sides of the peer-parity benchmark: the vision_ssl run gets it as a
`vision-ssl fit` config (the normal CLI path, `vision_ssl.cli.build_cli`), the LightlySSL loop
(`parity_lightly.py`) as constructor arguments of lightly's heads, losses and transforms.

Widths, temperature and momentum follow the CPU recipe of `METHOD_ARGS` (tests/helpers.py) where lightly's heads
can express it; SimSiam's projector is 3 layers because `SimSiamProjectionHead` has no other depth, and MoCo v2
is asymmetric (query of view 1 against key of view 2) as lightly's example is. Views: SimCLR's (crop (0.2, 1),
jitter 0.5 with p 0.8, grayscale 0.2, flip, no blur) for every two-view method, on both sides, as `build_method`
trains them. Normalisation: Fashion-MNIST's own mean / std on both sides and in the evaluator.

DINO and I-JEPA (lightly side: `parity_lightly_ema.py`) keep norms and biases out of weight decay on both sides
(the same parameters: lightly's `get_weight_decay_parameters`). Differences left, none of them removable with
lightly's components used as its examples use them:
  - both: lightly's crops are PIL resizes (bicubic) of uint8 images in the loader, ours kornia's (bilinear) on
    float batches; the teacher moves before each step on lightly's side and after it on ours (the same teacher
    at every forward, its momentum one step apart); lightly's `cosine_schedule` reaches 1 one step earlier.
  - DINO: lightly's example forwards each crop separately, so every BatchNorm (backbone and head) normalises over
    one crop's batch; vision_ssl, as DINO's reference code, forwards the global crops together and the local
    crops together, and its head sees all 8 crops as one batch. `DINOLoss` indexes its temperature warm-up by
    integer epoch over 30 points (0.04 + 0.03 e / 29 against our 0.04 + 0.03 e / 30). lightly's head drops the
    bias of the linear layers before BatchNorm (the same function). lightly's example gives the teacher head its
    own random init; ours loads the student's weights into it, as the reference code and vision_ssl do. Jitter
    saturation and hue, which differ in DINO's own defaults, do nothing to gray images; `DINOTransform` ignores
    `cj_strength` for the second global crop (it keeps 0.5, the recipe's value).
  - I-JEPA: `IJEPAMaskCollator` samples blocks as the reference code does: corners in [0, 7 - h) and blocks at
    most 6 patches high or wide, so on the 7x7 grid no block, context or target, ever covers the last patch row
    or column (13 of 49 patches); one uniform draw sets both a block's scale and its aspect ratio; contexts are
    cut to the batch minimum by keeping their first patches in raster order. Our default sampler departs from all
    three on purpose (vision_ssl/transforms/multiblock.py); here our side runs `masking: reference`, the same
    sampler, so both sides learn the same task (with our default, ours trails by 5 points on the linear probe at
    3 epochs and is level at 20: benchmarks/results/ijepa_parity_bisect.md). Left: lightly draws block corners
    with torch's global generator, ours with the run's seeded host generator; an image whose context falls
    below `min_context` has all its blocks redrawn on our side, only its context on lightly's. lightly's predictor starts its mask token at zero
    (ours: normal, std 0.02) and uses LayerNorm eps 1e-6 (ours 1e-5), with fixed sin-cos positions on both
    sides. Loss: the recipe's L2 on both sides (lightly's example uses SmoothL1Loss, the reference code's).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

FMNIST_MEAN, FMNIST_STD = (0.286, 0.286, 0.286), (0.353, 0.353, 0.353)


@dataclass(frozen=True)
class Recipe:
    """What both implementations share (the budget is filled in by `benchmarks/parity.py`)."""

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
    bottleneck: int = 128  # DINO's head: hidden -> hidden -> bottleneck, then the weight-normed layer to `out`
    head_batch_norm: bool = True
    freeze_last_layer: int = 0
    student_temp: float = 0.1
    teacher_temp_start: float = 0.04  # DINO's teacher temperature, linear to teacher_temp over teacher_temp_epochs
    teacher_temp: float = 0.07
    teacher_temp_epochs: int = 30
    center_momentum: float = 0.9
    num_local: int = 6  # multi-crop: 2 global crops of image_size (scale crop_scale), then the local crops
    local_size: int = 12
    local_scale: tuple[float, float] = (0.05, 0.4)
    solarize_p: float = 0.2
    predictor_dim: int = 48  # I-JEPA's predictor and multi-block masks
    predictor_depth: int = 2
    predictor_heads: int = 3
    num_targets: int = 4
    target_scale: tuple[float, float] = (0.15, 0.2)
    target_aspect: tuple[float, float] = (0.75, 1.5)
    context_scale: tuple[float, float] = (0.85, 1.0)
    min_context: int = 4
    jepa_loss: str = "mse"
    masking: str = "reference"  # I-JEPA's block sampler on our side: the reference's, as IJEPAMaskCollator's
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
    # DINO: METHOD_ARGS' head (K = 1024, BN) and momentum, MultiCropViews' defaults at 28 px (2 global crops of
    # scale 0.4-1, 6 local crops of 12 px, 0.05-0.4), the config's teacher temperature 0.04 -> 0.07 over 30 epochs.
    "dino": Recipe(hidden=512, out=1024, crop_scale=(0.4, 1.0)),
    # I-JEPA: the ViT of METHOD_ARGS (96 wide, 4 blocks, 3 heads, 4x4 patches on a 7x7 grid, no class token,
    # mean-pooled), its 48-wide 2-block predictor, crop (0.3, 1) + flip, AdamW 1e-3 / wd 0.05, vision_ssl's default
    # multi-block masks. Momentum 0.9 -> 1 (linear), not METHOD_ARGS' 0.99: the scored encoder is the EMA target,
    # and at 0.99 over this budget's 96 steps it stays ~60 % its initial weights on both sides (seed 0: kNN 44.9 /
    # 45.6 against 43.4 for the untrained ViT), so the comparison would only compare two initialisations.
    "ijepa": Recipe(backbone="vit_tiny_patch16_224",
                    backbone_kwargs={"img_size": 28, "patch_size": 4, "embed_dim": 96, "depth": 4, "num_heads": 3,
                                     "class_token": False, "global_pool": "avg"},
                    crop_scale=(0.3, 1.0), lr=1e-3, weight_decay=0.05, momentum=0.9),
}
CLASS_PATHS = {
    "simclr": "vision_ssl.methods.SimCLR", "mocov2": "vision_ssl.methods.MoCoV2", "byol": "vision_ssl.methods.BYOL",
    "simsiam": "vision_ssl.methods.SimSiam", "barlow_twins": "vision_ssl.methods.BarlowTwins",
    "vicreg": "vision_ssl.methods.VICReg", "mae": "vision_ssl.methods.MAE", "dino": "vision_ssl.methods.DINO",
    "ijepa": "vision_ssl.methods.IJEPA",
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
        "dino": lambda: dict(out_dim=r.out, hidden_dim=r.hidden, bottleneck_dim=r.bottleneck,
                             head_batch_norm=r.head_batch_norm, norm_last_layer=True, student_temp=r.student_temp,
                             warmup_teacher_temp=r.teacher_temp_start, teacher_temp=r.teacher_temp,
                             warmup_teacher_temp_epochs=r.teacher_temp_epochs, center_momentum=r.center_momentum,
                             base_momentum=r.momentum, final_momentum=r.final_momentum,
                             freeze_last_layer_epochs=r.freeze_last_layer),
        "ijepa": lambda: dict(predictor_dim=r.predictor_dim, predictor_depth=r.predictor_depth,
                              predictor_heads=r.predictor_heads, num_targets=r.num_targets,
                              target_scale=list(r.target_scale), target_aspect=list(r.target_aspect),
                              context_scale=list(r.context_scale), min_context=r.min_context,
                              base_momentum=r.momentum, final_momentum=r.final_momentum, loss=r.jepa_loss,
                              masking=r.masking),
    }[method]()


def vision_ssl_config(method: str, r: Recipe, seed: int, root: str, run_dir: str) -> dict[str, Any]:
    """A `vision-ssl fit` config (as a dict, written to YAML) training `method` with recipe `r`."""
    views = {"class_path": "vision_ssl.transforms.SimCLRViews", "init_args": {
        "crop_scale": list(r.crop_scale), "jitter_strength": r.jitter_strength, "jitter_p": r.jitter_p,
        "grayscale_p": r.grayscale_p, "blur_p": 0.0}}
    if method in ("mae", "ijepa"):
        views = {"class_path": "vision_ssl.transforms.CropFlipViews", "init_args": {"crop_scale": list(r.crop_scale)}}
    if method == "dino":
        views = {"class_path": "vision_ssl.transforms.MultiCropViews", "init_args": {
            "num_global": 2, "num_local": r.num_local, "local_size": r.local_size, "global_scale": list(r.crop_scale),
            "local_scale": list(r.local_scale), "jitter_strength": r.jitter_strength, "grayscale_p": r.grayscale_p,
            "blur_p": [0.0, 0.0], "solarize_p": r.solarize_p}}
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
