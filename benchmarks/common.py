"""Shared by the benchmark scripts: the machine and library versions a number was measured with, and the small
CPU-budget recipe (tiny backbone, small heads) every method is trained with in the accuracy benchmark and the
regression guard.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

# Per-method arguments on top of the shared recipe below. Siamese heads follow benchmarks/siamese_cpu.py (hidden
# 512); the pretext methods follow their configs/<method>_fashion_mnist.yaml. MAE needs a ViT, so it is the one
# method that cannot use the `tiny` backbone: a 6-block ViT-Tiny-width encoder on 4x4 patches, as in its config.
METHOD_ARGS: dict[str, dict[str, Any]] = {
    "simclr": dict(proj_hidden_dim=512, proj_output_dim=128, temperature=0.2),
    "mocov2": dict(proj_hidden_dim=512, proj_output_dim=128, queue_size=2048, symmetric=True),
    "mocov3": dict(proj_hidden_dim=512, proj_output_dim=128, temperature=0.2),
    "byol": dict(proj_hidden_dim=512, proj_output_dim=128),
    "simsiam": dict(proj_hidden_dim=512, proj_output_dim=512, proj_num_layers=2, pred_hidden_dim=128),
    "barlow_twins": dict(proj_hidden_dim=512, proj_output_dim=512),
    "vicreg": dict(proj_hidden_dim=512, proj_output_dim=512),
    "rotation": dict(head_hidden_dim=0, augment=None),
    "jigsaw": dict(grid=3, num_perms=100, tile_dim=256, hidden_dim=512, augment=None),
    "inpainting": dict(mask_mode="random", mask_ratio=0.25, mask_patch_size=4, decoder_width=32, augment=None),
    "mae": dict(backbone="vit_tiny_patch16_224", backbone_kwargs={"patch_size": 4, "depth": 6, "global_pool": "avg"},
                decoder_dim=128, decoder_depth=1, decoder_heads=4, augment=None, lr=1e-3, weight_decay=0.05),
    "supervised": dict(),
}
# Image methods only: next_frame predicts video frames and has no linear-probe protocol on still images.
IMAGE_METHODS = tuple(METHOD_ARGS)


def build_method(name: str, image_size: int = 28, width: int = 16, lr: float = 2e-3, **overrides: Any) -> Any:
    """A registered method with the CPU recipe: `tiny` backbone, AdamW, half-epoch warm-up, SimCLR crops (0.2, 1)."""
    from vision_ssl.registry import METHODS, resolve

    kw: dict[str, Any] = dict(backbone="tiny", backbone_kwargs={"width": width}, image_size=image_size, num_classes=10,
                              warmup_epochs=0.5, augment={"crop_scale": (0.2, 1.0)})
    kw.update(METHOD_ARGS[name])
    kw.update(overrides)
    if kw.get("augment") is None:
        kw.pop("augment", None)  # pretext methods: their own light recipe
    lr, wd = kw.pop("lr", lr), kw.pop("weight_decay", 1e-4)
    kw["optimizer"] = lambda groups: torch.optim.AdamW(groups, lr=lr, weight_decay=wd)
    return resolve(METHODS, name, "method")(**kw)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """Device, core count, load and library versions, stored next to every number."""
    versions = {}
    for pkg in ("torch", "lightning", "kornia", "timm", "lightly", "torchvision"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": cpu_model(), "cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "load_avg_1min": round(os.getloadavg()[0], 2), "gpu": gpu, "python": sys.version.split()[0],
        "versions": versions, "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=float))
    tmp.replace(path)
