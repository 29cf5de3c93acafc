"""The 10 %-label fine-tune's backbone learning rate, per method (issue 12: jigsaw and inpainting fine-tuned below
the random init). Fine-tunes the full-budget checkpoints (`runs/full_budget/<method>_seed<S>_e20_n54000_w16/
last.ckpt`, made by full_budget.py) and the seed's random init with the backbone at `backbone_lr_scale` x the
head's learning rate, for each scale; everything else as `budget_runs.score` (10 epochs, seeded 10 % subset,
AdamW head lr 1e-2, crop + flip). Prints one JSON line per (method, scale): val and test top-1.

    .venv/bin/python benchmarks/finetune_sweep.py --methods random jigsaw inpainting simclr --scales 0.1 1.0
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import lightning as L
import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import build_method  # noqa: E402

from vision_ssl.data import FashionMNISTDataModule  # noqa: E402
from vision_ssl.eval.finetune import finetune  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=["random", "jigsaw", "inpainting", "simclr"],
                   help="registry names with a full-budget checkpoint; random: the conv net's seed init")
    p.add_argument("--scales", type=float, nargs="+", default=[0.1, 1.0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ckpt-dir", default="runs/full_budget")
    p.add_argument("--root", default="data")
    args = p.parse_args()
    torch.set_num_threads(1)
    dm = FashionMNISTDataModule(root=args.root, image_size=28, batch_size=256, num_workers=0, val_fraction=0.1, seed=0)
    for name in args.methods:
        for scale in args.scales:
            L.seed_everything(args.seed, verbose=False)
            model = build_method("simclr" if name == "random" else name, width=16)
            if name != "random":
                path = os.path.join(args.ckpt_dir, f"{name}_seed{args.seed}_e20_n54000_w16", "last.ckpt")
                model.load_state_dict(torch.load(path, map_location="cpu", weights_only=False)["state_dict"], strict=False)
            start = time.time()
            r = finetune(model.backbone, model.normalize, dm, epochs=10, label_fraction=0.1, seed=args.seed, test=True,
                         backbone_lr_scale=scale)  # fmt: skip
            print(json.dumps({"method": name, "scale": scale, "val": round(r["val_top1"], 4),
                              "test": round(r["test_top1"], 4), "s": round(time.time() - start)}), flush=True)


if __name__ == "__main__":
    main()
