"""Sections (a) and (c) of benchmarks/gpu_check.py: SimCLR, ResNet-18 with the CIFAR stem on 32x32 images,
trained by a Lightning Trainer.

- (a) seconds per 50,000-image epoch: ours (uint8 batches sliced from memory, views made on the GPU by
  `SimCLRViews`) against LightlySSL's way (views made per sample on the CPU in 16 DataLoader workers, then
  backbone + projection head + NT-Xent), the same backbone, head, optimizer, precision and speed options, one
  after the other in one process. With `lightly` installed the peer uses lightly's own `SimCLRTransform`,
  `SimCLRProjectionHead` and `NTXentLoss`; without it, the same per-sample pipeline from torchvision.transforms.v2
  (as `SimCLRTransform` builds it), our projector and `info_nce`, labelled so.
- (c) images/s of our step with bf16, channels_last and torch.compile each on and off.

Only the public surface is used: method and data-module constructors, `training_step` through `Trainer.fit`.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, replace
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from benchmarks.lib.parity_lightly import PILDataset
from vision_ssl.data import FashionMNISTDataModule
from vision_ssl.heads import simclr_projector
from vision_ssl.losses import info_nce
from vision_ssl.methods import SimCLR
from vision_ssl.transforms import SimCLRViews
from vision_ssl.utils.speed import SpeedOptions

MEAN, STD = (0.286,) * 3, (0.353,) * 3  # Fashion-MNIST's, gray repeated to RGB (configs/simclr_fashion_mnist.yaml)
TEMPERATURE, HIDDEN, OUT = 0.5, 2048, 128  # configs/simclr_fashion_mnist.yaml


@dataclass(frozen=True)
class Options:
    """Speed options of one run: Trainer precision, and channels_last / torch.compile through the package's
    `vision_ssl.utils.speed.SpeedOptions` (config key `speed:`), as `vision-ssl fit` applies them."""

    bf16: bool = True
    channels_last: bool = True
    compile: bool = True

    def label(self) -> str:
        return ", ".join(f"{k} {'on' if v else 'off'}" for k, v in vars(self).items())

    def callback(self, compile_backend: str) -> SpeedOptions:
        """The package's `SpeedOptions` (what `speed:` in a config applies) for channels_last and compile; it
        compiles each model's `compile_modules` (default: the backbone, the peer's too)."""
        return SpeedOptions(channels_last=self.channels_last, compile=self.compile,
                            compile_backend=compile_backend if self.compile else "inductor")


class Clock(L.Callback):
    """Epoch wall times and the time of a window of steps, synchronising the GPU only at their edges."""

    def __init__(self, window: tuple[int, int] | None = None) -> None:
        self.window, self.epochs, self.marks = window, [], {}  # type: ignore[var-annotated]
        self.images = 0

    def _now(self) -> float:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = self._now()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epochs.append(self._now() - self._start)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
        if self.window and trainer.global_step in self.window:
            self.marks[trainer.global_step] = self._now()
        if self.window and self.window[0] < trainer.global_step <= self.window[1]:
            self.images += int(batch[1].shape[0])  # the labels: (B,) for ours and the peer alike

    def rate(self) -> float:
        first, last = self.window or (0, 0)
        return self.images / (self.marks[last] - self.marks[first])


class PerSampleSimCLR(L.LightningModule):
    """LightlySSL's SimCLR example as a LightningModule: views arrive ready from the loader workers;
    z = head(backbone(x)) per view, NT-Xent on the pair."""

    def __init__(self, backbone: nn.Module, head: nn.Module, criterion: Any, optimizer: Any) -> None:
        super().__init__()
        self.backbone, self.head, self.criterion, self.optimizer = backbone, head, criterion, optimizer

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        (x0, x1), _ = batch  # (B, 3, H, W) float each; channels_last weights convert them as ours are converted
        return self.criterion(self.head(self.backbone(x0)), self.head(self.backbone(x1)))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer(self.parameters())


def sgd(params: Any) -> torch.optim.Optimizer:
    """The one optimizer of every run here (timing only: the recipe's LARS costs the same for both sides)."""
    return torch.optim.SGD(params, lr=0.06, momentum=0.9, weight_decay=5e-4)


def our_simclr(sz: Any) -> SimCLR:
    return SimCLR(backbone=sz.backbone, backbone_kwargs=dict(sz.backbone_kwargs), cifar_stem=sz.cifar_stem,
                  image_size=sz.image_size, num_classes=10, mean=MEAN, std=STD, proj_hidden_dim=HIDDEN,
                  proj_output_dim=OUT, temperature=TEMPERATURE, warmup_epochs=0, optimizer=sgd,
                  augment=SimCLRViews(crop_scale=(0.08, 1.0), jitter_strength=0.5, blur_p=0.0))


def use_lightly(peer: str) -> bool:
    """`peer`: "lightly" (required), "torchvision" (never) or "auto" (lightly where it is installed)."""
    if peer not in ("auto", "lightly", "torchvision"):
        raise ValueError(f"peer must be auto, lightly or torchvision, got '{peer}'")
    if peer == "torchvision":
        return False
    try:
        import lightly  # noqa: F401
    except ImportError:
        if peer == "lightly":
            raise
        return False
    return True


def per_sample_transform(size: int, lightly: bool) -> tuple[Any, str]:
    """Two views per PIL image, made on the CPU: lightly's SimCLRTransform, or the same in torchvision v2."""
    if lightly:
        from lightly.transforms import SimCLRTransform

        t = SimCLRTransform(input_size=size, cj_strength=0.5, min_scale=0.08, random_gray_scale=0.2,
                            gaussian_blur=0.0, normalize={"mean": list(MEAN), "std": list(STD)})
        return t, "lightly.transforms.SimCLRTransform"
    return TwoViews(size), "torchvision.transforms.v2 per sample, built like lightly's SimCLRTransform (not lightly)"


class TwoViews:
    """lightly's SimCLRTransform for cj_strength 0.5, min_scale 0.08, gray 0.2, no blur, applied twice."""

    def __init__(self, size: int) -> None:
        self.one = v2.Compose([
            v2.RandomResizedCrop(size, scale=(0.08, 1.0), antialias=True), v2.RandomHorizontalFlip(0.5),
            v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), v2.RandomGrayscale(0.2),
            v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(MEAN), list(STD))])

    def __call__(self, image: Any) -> list[torch.Tensor]:
        return [self.one(image), self.one(image)]


def peer_module(ours: SimCLR, lightly: bool) -> tuple[PerSampleSimCLR, str]:
    """The peer's model: a copy of our backbone, then lightly's head and loss, or ours (the same layers and loss)."""
    backbone = copy.deepcopy(ours.backbone)
    if lightly:
        from lightly.loss import NTXentLoss
        from lightly.models.modules import SimCLRProjectionHead

        head, loss = SimCLRProjectionHead(backbone.num_features, HIDDEN, OUT), NTXentLoss(temperature=TEMPERATURE)
        return PerSampleSimCLR(backbone, head, loss, sgd), "lightly SimCLRProjectionHead + NTXentLoss"
    head = simclr_projector(backbone.num_features, HIDDEN, OUT)
    return PerSampleSimCLR(backbone, head, lambda a, b: info_nce(a, b, TEMPERATURE), sgd), \
        "our simclr_projector + info_nce (Linear-BN-ReLU-Linear and NT-Xent, as lightly's)"


def data_module(sz: Any, root: str, n: int, batch_size: int | None = None) -> FashionMNISTDataModule:
    """`n` Fashion-MNIST training images as uint8 batches sliced from memory (no loader workers needed)."""
    return FashionMNISTDataModule(root=root, image_size=sz.image_size, channels=3,
                                  batch_size=batch_size or sz.batch_size, num_workers=0, max_train_samples=n)


def trainer(sz: Any, opts: Options, clock: Clock, **kw: Any) -> L.Trainer:
    return L.Trainer(accelerator=sz.accelerator, devices=1, precision="bf16-mixed" if opts.bf16 else "32-true",
                     logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                     limit_val_batches=0, num_sanity_val_steps=0,
                     callbacks=[clock, opts.callback(sz.compile_backend)], **kw)


def epoch_side_by_side(sz: Any, root: str, images: torch.Tensor) -> dict:
    """(a): two epochs each, ours then the peer; the second epoch is the one reported (the first compiles)."""
    opts = Options()
    ours, dm = our_simclr(sz), data_module(sz, root, sz.epoch_images)
    lightly = use_lightly(sz.peer)
    peer, peer_desc = peer_module(ours, lightly)
    transform, transform_desc = per_sample_transform(sz.image_size, lightly)
    loader = DataLoader(PILDataset(images[: sz.epoch_images], transform), batch_size=sz.batch_size, shuffle=True,
                        drop_last=True, num_workers=sz.peer_workers, pin_memory=torch.cuda.is_available(),
                        persistent_workers=sz.peer_workers > 0)
    out: dict[str, Any] = {"options": opts.label(), "epoch_images": sz.epoch_images, "batch_size": sz.batch_size,
                           "peer_workers": sz.peer_workers, "peer": f"{transform_desc}; {peer_desc}"}
    for name, module, kw in (("ours", ours, {"datamodule": dm}), ("peer", peer, {"train_dataloaders": loader})):
        clock = Clock()
        trainer(sz, opts, clock, max_epochs=2).fit(module, **kw)
        out[f"{name}_epoch_seconds"], out[f"{name}_first_epoch_seconds"] = clock.epochs[-1], clock.epochs[0]
    out["speedup"] = out["peer_epoch_seconds"] / out["ours_epoch_seconds"]
    return out


def option_rates(sz: Any, root: str, deadline: float = float("inf")) -> list[dict]:
    """(c): steady images/s of our SimCLR step with every option on, with each one turned off alone, and all off.
    Runs that would start after `deadline` (time.monotonic) are listed as skipped."""
    every = Options()
    runs = [("all on", every)] + [(f"{k} off", replace(every, **{k: False})) for k in vars(every)]
    runs.append(("all off", Options(False, False, False)))
    dm = data_module(sz, root, sz.batch_size * (sz.option_warmup + sz.option_steps + 1))
    rows = []
    for name, opts in runs:
        if time.monotonic() > deadline:
            rows.append({"run": name, "options": opts.label(), "skipped": "the check's time budget was spent"})
            continue
        clock = Clock(window=(sz.option_warmup, sz.option_warmup + sz.option_steps))
        start = time.perf_counter()
        trainer(sz, opts, clock, max_steps=sz.option_warmup + sz.option_steps).fit(our_simclr(sz), datamodule=dm)
        rows.append({"run": name, "options": opts.label(), "img_per_s": clock.rate(),
                     "wall_seconds": time.perf_counter() - start})
    base = next((r["img_per_s"] for r in rows if r["run"] == "all off" and "img_per_s" in r), None)
    for r in rows:
        r["vs_all_off"] = r["img_per_s"] / base if base and "img_per_s" in r else None
    return rows
