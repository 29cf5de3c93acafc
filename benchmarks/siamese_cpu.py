"""Short Fashion-MNIST CPU runs of the Siamese-family methods: linear-probe top-1 vs a random-weights twin,
and training throughput.

    .venv/bin/python benchmarks/siamese_cpu.py --methods mocov2 byol --epochs 3 --samples 4096

Every method is built by `build_method` (tests/helpers.py, the learning tests' recipe): the `tiny` backbone (width
16), 28x28 images, AdamW(lr 2e-3) with a half-epoch warm-up, small heads (BYOL: 2048 -> 256), MoCo v2 queue 1024.
Throughput is training images per second over the whole run (augmentation on the device included, validation
excluded). The probe is
`vision_ssl.eval.linear_probe` on frozen features of the 10% validation split.
"""

from __future__ import annotations

import argparse
import os
import sys

import lightning as L
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from helpers import build_method, fashion_mnist, quiet_trainer  # noqa: E402

from vision_ssl.eval import linear_probe  # noqa: E402
from vision_ssl.eval.features import init_kwargs
from vision_ssl.utils.callbacks import Throughput  # noqa: E402

SIAMESE = ("simclr", "mocov2", "mocov3", "byol", "simsiam", "barlow_twins", "vicreg")


def run(method: str, epochs: int, samples: int, batch_size: int = 256, probe_epochs: int = 30) -> dict[str, float]:
    L.seed_everything(0)
    model = build_method(method)
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
    parser.add_argument("--methods", nargs="+", default=list(SIAMESE))
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
