"""The LightlySSL side of the peer-parity benchmark (`python -m benchmarks.parity`): a plain PyTorch loop assembled
from lightly's own transforms, heads, losses and momentum helpers the way its examples (examples/pytorch/*.py)
assemble each method: one forward per view, `deactivate_requires_grad` copies moved by `update_momentum` before
the step (`cosine_schedule` for BYOL), `NTXentLoss(memory_bank_size=...)` as MoCo's queue. Per-sample PIL
transforms in a DataLoader, as lightly's examples load data (and I-JEPA's masks from lightly's collate function).
The models follow `parity_reference.Reference`; DINO's and I-JEPA's live in `parity_lightly_ema.py`.

Everything a recipe fixes (backbone, heads' widths, temperature, queue, momentum, views, normalisation, AdamW, the
warm-up + cosine schedule per step, batch, epochs) comes from `parity_recipes.Recipe`, shared with the vision_ssl
side. `python -m benchmarks.speed train` reuses `SimCLRRef`, `two_view_transform` and `PILDataset` for its
SimCLR side by side, so there is one LightlySSL SimCLR in the benchmarks. lightly is a `bench` extra, never a
dependency of vision_ssl.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from typing import Any

import torch
from PIL import Image
from torch import nn
from torch.utils.data import Dataset

from benchmarks.lib.parity_lightly_ema import (
    DINORef,
    IJEPARef,
    dino_transform,
    ijepa_collator,
    ijepa_transform,
)
from benchmarks.lib.parity_reference import Reference
from vision_ssl.backbones import create_backbone


def require_lightly() -> Any:
    try:
        import lightly
    except ImportError as err:
        raise ImportError("the LightlySSL side of the benchmark needs LightlySSL: pip install -e '.[bench]'") from err
    return lightly


class PILDataset(Dataset):
    """uint8 images (N, C, H, W) served as PIL RGB images through `transform`, like a torchvision dataset."""

    def __init__(self, images: torch.Tensor, transform: Any) -> None:
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        x = self.images[i]
        if x.shape[0] == 1:
            x = x.expand(3, -1, -1)
        return self.transform(Image.fromarray(x.permute(1, 2, 0).numpy(), mode="RGB")), 0


class SimCLRRef(Reference):
    def __init__(self, backbone: nn.Module, r: Any) -> None:
        super().__init__(backbone)
        from lightly.loss import NTXentLoss
        from lightly.models.modules import SimCLRProjectionHead

        self.head = SimCLRProjectionHead(backbone.num_features, r.hidden, r.out)
        self.criterion = NTXentLoss(temperature=r.temperature)

    def loss(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        return self.criterion(self.head(self.backbone(x0)), self.head(self.backbone(x1)))


class MoCoV2Ref(Reference):
    def __init__(self, backbone: nn.Module, r: Any) -> None:
        super().__init__(backbone)
        from lightly.loss import NTXentLoss
        from lightly.models.modules import MoCoProjectionHead
        from lightly.models.utils import deactivate_requires_grad

        self.head = MoCoProjectionHead(backbone.num_features, r.hidden, r.out)
        self.backbone_m, self.head_m = copy.deepcopy(backbone), copy.deepcopy(self.head)
        deactivate_requires_grad(self.backbone_m)
        deactivate_requires_grad(self.head_m)
        self.criterion = NTXentLoss(temperature=r.temperature, memory_bank_size=(r.queue, r.out))
        self.m = r.momentum

    def before_step(self, step: int, total: int) -> None:
        from lightly.models.utils import update_momentum

        update_momentum(self.backbone, self.backbone_m, m=self.m)
        update_momentum(self.head, self.head_m, m=self.m)

    def loss(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        query = self.head(self.backbone(x0))
        key = self.head_m(self.backbone_m(x1)).detach()
        return self.criterion(query, key)


class BYOLRef(Reference):
    def __init__(self, backbone: nn.Module, r: Any) -> None:
        super().__init__(backbone)
        from lightly.loss import NegativeCosineSimilarity
        from lightly.models.modules import BYOLPredictionHead, BYOLProjectionHead
        from lightly.models.utils import deactivate_requires_grad

        self.proj = BYOLProjectionHead(backbone.num_features, r.hidden, r.out)
        self.pred = BYOLPredictionHead(r.out, r.hidden, r.out)
        self.backbone_m, self.proj_m = copy.deepcopy(backbone), copy.deepcopy(self.proj)
        deactivate_requires_grad(self.backbone_m)
        deactivate_requires_grad(self.proj_m)
        self.criterion = NegativeCosineSimilarity()
        self.m0, self.m1 = r.momentum, r.final_momentum

    def before_step(self, step: int, total: int) -> None:
        from lightly.models.utils import update_momentum
        from lightly.utils.scheduler import cosine_schedule

        m = cosine_schedule(step, total, self.m0, self.m1)
        update_momentum(self.backbone, self.backbone_m, m=m)
        update_momentum(self.proj, self.proj_m, m=m)

    def loss(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        p0, p1 = self.pred(self.proj(self.backbone(x0))), self.pred(self.proj(self.backbone(x1)))
        with torch.no_grad():
            z0, z1 = self.proj_m(self.backbone_m(x0)), self.proj_m(self.backbone_m(x1))
        return 0.5 * (self.criterion(p0, z1) + self.criterion(p1, z0))


class SimSiamRef(Reference):
    def __init__(self, backbone: nn.Module, r: Any) -> None:
        super().__init__(backbone)
        from lightly.loss import NegativeCosineSimilarity
        from lightly.models.modules import SimSiamPredictionHead, SimSiamProjectionHead

        self.proj = SimSiamProjectionHead(backbone.num_features, r.hidden, r.out)
        self.pred = SimSiamPredictionHead(r.out, r.pred_hidden, r.out)
        self.criterion = NegativeCosineSimilarity()

    def loss(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        z0, z1 = self.proj(self.backbone(x0)), self.proj(self.backbone(x1))
        p0, p1 = self.pred(z0), self.pred(z1)
        return 0.5 * (self.criterion(z0.detach(), p1) + self.criterion(z1.detach(), p0))


class BarlowTwinsRef(Reference):
    def __init__(self, backbone: nn.Module, r: Any) -> None:
        super().__init__(backbone)
        from lightly.loss import BarlowTwinsLoss
        from lightly.models.modules import BarlowTwinsProjectionHead

        self.head = BarlowTwinsProjectionHead(backbone.num_features, r.hidden, r.out)
        self.criterion = BarlowTwinsLoss(lambda_param=r.lambda_offdiag)

    def loss(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        return self.criterion(self.head(self.backbone(x0)), self.head(self.backbone(x1)))


class VICRegRef(Reference):
    def __init__(self, backbone: nn.Module, r: Any) -> None:
        super().__init__(backbone)
        from lightly.loss import VICRegLoss
        from lightly.models.modules.heads import VICRegProjectionHead

        self.head = VICRegProjectionHead(backbone.num_features, r.hidden, r.out, num_layers=3)
        self.criterion = VICRegLoss(lambda_param=25.0, mu_param=25.0, nu_param=1.0)

    def loss(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        return self.criterion(self.head(self.backbone(x0)), self.head(self.backbone(x1)))


class MAERef(Reference):
    """lightly's MAE example: `MaskedVisionTransformerTIMM` around the same timm ViT, `MAEDecoderTIMM`,
    `random_token_mask`, MSE on the raw pixels of the hidden patches (the example has no per-patch norm). timm's
    init and learned position embeddings are kept ('skip'), so both sides start from the same encoder weights, and
    norms and biases are not decayed, as on the vision_ssl side (and in the MAE reference code)."""

    decay_norm_and_bias = False

    def __init__(self, backbone: nn.Module, r: Any) -> None:
        from lightly.models.modules import MAEDecoderTIMM, MaskedVisionTransformerTIMM

        super().__init__(MaskedVisionTransformerTIMM(vit=backbone, weight_initialization="skip",
                                                     pos_embed_initialization="skip"))
        self.patch_size = backbone.patch_embed.patch_size[0]
        self.sequence_length = self.backbone.sequence_length
        self.decoder = MAEDecoderTIMM(num_patches=backbone.patch_embed.num_patches, patch_size=self.patch_size,
                                      embed_dim=backbone.embed_dim, decoder_embed_dim=r.decoder_dim,
                                      decoder_depth=r.decoder_depth, decoder_num_heads=r.decoder_heads)
        self.mask_ratio = r.mask_ratio
        self.criterion = nn.MSELoss()

    @property
    def encoder(self) -> nn.Module:
        return self.backbone.vit  # timm's forward: the full image, pooled as configured (avg)

    def loss(self, x0: torch.Tensor, x1: torch.Tensor | None = None) -> torch.Tensor:
        from lightly.models import utils

        b = x0.shape[0]
        idx_keep, idx_mask = utils.random_token_mask(size=(b, self.sequence_length), mask_ratio=self.mask_ratio)
        x_encoded = self.backbone.encode(images=x0, idx_keep=idx_keep)
        x_decode = self.decoder.embed(x_encoded)
        x_masked = utils.repeat_token(self.decoder.mask_token, (b, self.sequence_length))
        x_masked = utils.set_at_index(x_masked, idx_keep, x_decode.type_as(x_masked))
        x_pred = self.decoder.predict(utils.get_at_index(self.decoder.decode(x_masked), idx_mask))
        target = utils.get_at_index(utils.patchify(x0, self.patch_size), idx_mask - 1)  # no class token in patches
        return self.criterion(x_pred, target)


REFERENCES: dict[str, type[Reference]] = {
    "simclr": SimCLRRef, "mocov2": MoCoV2Ref, "byol": BYOLRef, "simsiam": SimSiamRef,
    "barlow_twins": BarlowTwinsRef, "vicreg": VICRegRef, "mae": MAERef, "dino": DINORef, "ijepa": IJEPARef,
}


def mae_transform(r: Any) -> Any:
    """lightly's MAETransform: random resized crop with the recipe's scale and a flip, as `CropFlipViews`."""
    from lightly.transforms import MAETransform

    return MAETransform(input_size=r.image_size, min_scale=r.crop_scale[0],
                        normalize={"mean": list(r.mean), "std": list(r.std)})


def two_view_transform(r: Any) -> Any:
    """lightly's SimCLRTransform with the recipe's views: the same crop scale, jitter, grayscale, flip and
    normalisation as `SimCLRViews` on the vision_ssl side (no blur at 28 px, no vertical flip or rotation)."""
    from lightly.transforms import SimCLRTransform

    return SimCLRTransform(input_size=r.image_size, cj_prob=r.jitter_p, cj_strength=r.jitter_strength,
                           min_scale=r.crop_scale[0], random_gray_scale=r.grayscale_p, gaussian_blur=0.0,
                           hf_prob=0.5, vf_prob=0.0, rr_prob=0.0,
                           normalize={"mean": list(r.mean), "std": list(r.std)})


def parameter_groups(model: Reference, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: every trainable parameter decayed, or (`decay_norm_and_bias = False`, as the vision_ssl side
    of that method) norms and biases apart without decay, split by lightly's `get_weight_decay_parameters`."""
    if model.decay_norm_and_bias:
        return [{"params": [p for p in model.parameters() if p.requires_grad]}]
    from lightly.models.utils import get_weight_decay_parameters

    decay, no_decay = get_weight_decay_parameters([model])
    return [{"params": [p for p in decay if p.requires_grad]},
            {"params": [p for p in no_decay if p.requires_grad], "weight_decay": 0.0}]


VIEWS = {"mae": mae_transform, "dino": dino_transform, "ijepa": ijepa_transform}  # default: two_view_transform
COLLATES = {"ijepa": ijepa_collator}  # I-JEPA's masks come from lightly's collate function, as in its example


def train_reference(method: str, r: Any, images: torch.Tensor, seed: int, max_steps: int | None = None,
                    on_step: Callable[[int], None] | None = None,
                    on_batch: Callable[[int], None] | None = None) -> tuple[nn.Module, dict[str, float]]:
    """Train lightly's `method` on uint8 `images` (N, C, H, W); returns the backbone and wall-time figures.

    `max_steps` stops early (the schedules keep the full budget's length); `on_step(step)` is called after every
    optimizer step and `on_batch(step)` when its batch has arrived from the loader (`benchmarks.lib.parity_speed`
    takes its timestamps there)."""
    require_lightly()
    from lightly.utils.scheduler import CosineWarmupScheduler

    torch.manual_seed(seed)  # the same seed builds the same initial backbone as the vision_ssl run
    backbone = create_backbone(r.backbone, in_chans=3, **r.backbone_kwargs)
    model = REFERENCES[method](backbone, r)
    transform = VIEWS.get(method, two_view_transform)(r)
    collate = COLLATES[method](r) if method in COLLATES else None
    loader = torch.utils.data.DataLoader(PILDataset(images, transform), batch_size=r.batch_size,
                                         shuffle=True, drop_last=True, num_workers=0, collate_fn=collate,
                                         generator=torch.Generator().manual_seed(seed))
    opt = torch.optim.AdamW(parameter_groups(model, r.weight_decay), lr=r.lr, weight_decay=r.weight_decay)
    total = r.epochs * len(loader)
    warmup = min(total, round(r.warmup_epochs * len(loader)))
    sched = CosineWarmupScheduler(opt, warmup_epochs=warmup, max_epochs=total)
    start, step = time.perf_counter(), 0
    model.train()
    for _ in range(r.epochs):
        for batch in loader:  # (views, labels): 2 views, 1 for MAE, 2 + 6 crops for DINO; I-JEPA adds masks
            if on_batch is not None:
                on_batch(step)
            model.before_step(step, total)
            loss = model.loss(*model.unpack(batch))
            if not math.isfinite(loss.item()):
                raise FloatingPointError(f"lightly {method}: non-finite loss at step {step}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            model.after_backward()
            opt.step()
            sched.step()
            step += 1
            if on_step is not None:
                on_step(step)
            if step == max_steps:
                break
        if step == max_steps:
            break
    seconds = time.perf_counter() - start
    return model.encoder, {"wall_s": seconds, "images_per_s": step * r.batch_size / max(seconds, 1e-9)}
