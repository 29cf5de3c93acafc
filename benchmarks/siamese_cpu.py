"""Short Fashion-MNIST CPU runs of the Siamese-family methods: linear-probe top-1 vs a random-weights twin,
and training throughput.

    .venv/bin/python benchmarks/siamese_cpu.py --methods mocov2 byol --epochs 3 --samples 4096

Every method uses the `tiny` backbone (width 16), 28x28 images, batch 256 (`--batch-size`), AdamW(lr 2e-3) with a half-epoch
warm-up, and small heads (hidden 512, output 128; Barlow Twins / VICReg 512-512-512), and teacher momentum 0.95 for
MoCo v2 and BYOL (0.99 barely moves the teacher off its random init in a run of ~100 steps). Throughput is training
images per second over the whole run (augmentation on the device included, validation excluded). The probe is
`vision_ssl.eval.linear_probe` on frozen features of the 10% validation split.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import lightning as L
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from helpers import fashion_mnist, quiet_trainer  # noqa: E402

from vision_ssl.eval import linear_probe  # noqa: E402
from vision_ssl.eval.features import init_kwargs
from vision_ssl.registry import METHODS, resolve  # noqa: E402
from vision_ssl.utils.callbacks import Throughput  # noqa: E402

HEADS: dict[str, dict[str, Any]] = {
    "simclr": dict(proj_hidden_dim=512, proj_output_dim=128, temperature=0.2),
    "mocov2": dict(proj_hidden_dim=512, proj_output_dim=128, queue_size=2048, symmetric=True, momentum=0.95, key_chunks=4),
    "mocov3": dict(proj_hidden_dim=512, proj_output_dim=128, temperature=0.2),
    "byol": dict(proj_hidden_dim=512, proj_output_dim=128, base_momentum=0.95),
    "simsiam": dict(proj_hidden_dim=512, proj_output_dim=512, proj_num_layers=2, pred_hidden_dim=128),
    "barlow_twins": dict(proj_hidden_dim=512, proj_output_dim=512),
    "vicreg": dict(proj_hidden_dim=512, proj_output_dim=512),
}


def build(method: str, **overrides: Any) -> L.LightningModule:
    """A method with the tiny backbone and the small heads above (what the learning tests train too)."""
    cls = resolve(METHODS, method, "method")
    kw: dict[str, Any] = dict(backbone="tiny", backbone_kwargs={"width": 16}, image_size=28, warmup_epochs=0.5,
                              augment={"crop_scale": (0.2, 1.0)},
                              optimizer=lambda groups: torch.optim.AdamW(groups, lr=2e-3, weight_decay=1e-4))
    kw.update(HEADS[method])
    kw.update(overrides)
    return cls(**kw)


def run(method: str, epochs: int, samples: int, batch_size: int = 256, probe_epochs: int = 30) -> dict[str, float]:
    L.seed_everything(0)
    model = build(method)
    twin = type(model)(**init_kwargs(model.hparams))
    twin.load_state_dict(model.state_dict())  # the random weights the run starts from
    dm = fashion_mnist(max_train_samples=samples, batch_size=batch_size)
    meter = Throughput()
    quiet_trainer(epochs, limit_val_batches=0, callbacks=[meter]).fit(model, dm)
    trained = linear_probe(model, dm, lrs=(3e-3,), epochs=probe_epochs)["val_top1"]
    random = linear_probe(twin, dm, lrs=(3e-3,), epochs=probe_epochs)["val_top1"]
    return {"probe": trained, "random": random, "img_s": meter.images / meter.seconds, "seconds": meter.seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(HEADS))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=4096, help="training images (Fashion-MNIST subset)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared, oversubscribed CPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"| method | probe top-1 | random-weights top-1 | train images/s | train seconds |  ({args.samples} images, "
          f"{args.epochs} epochs, batch {args.batch_size}, {args.threads} threads, load avg {os.getloadavg()[0]:.1f})")
    print("| --- | --- | --- | --- | --- |")
    for method in args.methods:
        r = run(method, args.epochs, args.samples, args.batch_size)
        print(f"| {method} | {r['probe']:.4f} | {r['random']:.4f} | {r['img_s']:.0f} | {r['seconds']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
