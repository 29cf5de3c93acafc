"""The 10 %-label fine-tune's backbone learning rate, per method (issue 12: jigsaw and inpainting fine-tuned below
the random init). Fine-tunes the networks of finished full-budget records (`full_budget.saved_encoder`: the run's
`last.ckpt` under --ckpt-dir, the seed's init for `random:<method>`) with the backbone at `scale` x the head's
learning rate, for each scale, as `budget_runs.score_finetune` (10 epochs, seeded 10 % subset, AdamW head lr
1e-2, crop + flip). Prints one JSON line per (method, scale): val and test top-1.

    .venv/bin/python benchmarks/finetune_sweep.py --methods random:simclr jigsaw inpainting simclr --scales 0.1 1.0
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from budget_runs import score_finetune  # noqa: E402
from full_budget import parse_args, saved_encoder  # noqa: E402

from vision_ssl.data import FashionMNISTDataModule  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=["random:simclr", "jigsaw", "inpainting", "simclr"])
    p.add_argument("--scales", type=float, nargs="+", default=[0.1, 1.0])
    p.add_argument("--seed", type=int, default=0)
    args, rest = p.parse_known_args()
    budget = parse_args(rest)  # --ckpt-dir, --root, --epochs, --width of the full-budget runs
    torch.set_num_threads(budget.threads)
    dm = FashionMNISTDataModule(root=budget.root, image_size=28, batch_size=budget.batch_size, num_workers=0,
                                val_fraction=0.1, seed=0)  # fmt: skip
    dm.setup(None)
    for method in args.methods:
        model = saved_encoder(method, args.seed, budget, len(dm.train_set))
        r = score_finetune(model.backbone, model.normalize, dm, args.seed, budget.finetune_epochs, tuple(args.scales))
        for scale, v in r["finetune10_by_scale"].items():
            print(json.dumps({"method": method, "scale": float(scale), "val": round(v["val"], 4),
                              "test": round(v["test"], 4)}), flush=True)


if __name__ == "__main__":
    main()
