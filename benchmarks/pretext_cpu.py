"""Short CPU runs of the context pretexts on real Fashion-MNIST: held-out pretext accuracy (rotation, jigsaw) or
masked reconstruction MSE (inpainting, MAE) before and after training, and the offline linear probe of the trained
encoder next to its random-weights twin (same initial weights, same probe protocol).

    .venv/bin/python benchmarks/pretext_cpu.py --samples 4096 --epochs 3 --out benchmarks/results/pretext_cpu.md
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import lightning as L
import torch

from vision_ssl.data import FashionMNISTDataModule
from vision_ssl.eval import linear_probe
from vision_ssl.methods import MAE, Inpainting, Jigsaw, Rotation
from vision_ssl.transforms import make_jigsaw, random_patch_split

REPO = Path(__file__).resolve().parents[1]
TINY = dict(backbone="tiny", image_size=28, warmup_epochs=0.25)
METHODS = {
    "rotation": (Rotation, dict(TINY)),
    "jigsaw": (Jigsaw, dict(TINY, num_perms=100, tile_dim=256, hidden_dim=512)),
    "inpainting": (Inpainting, dict(TINY, mask_ratio=0.25, decoder_width=32)),
    "mae": (MAE, dict(backbone_kwargs={"patch_size": 4, "embed_dim": 96, "depth": 4, "num_heads": 3, "global_pool": "avg"},
                      image_size=28, decoder_dim=64, decoder_depth=1, decoder_heads=4, warmup_epochs=0.25)),
}


@torch.no_grad()
def pretext_score(model: L.LightningModule, dm: FashionMNISTDataModule, n: int = 512) -> float:
    """Held-out pretext top-1 (rotation, jigsaw) or masked MSE (inpainting, MAE) on `n` clean val images, eval mode."""
    was_training = model.training
    model.eval()
    images = model.normalize(torch.stack([dm.val_set[i][0] for i in range(min(n, len(dm.val_set)))]))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        if isinstance(model, Rotation):
            score = model.pretext(images)[1].item()
        elif isinstance(model, Jigsaw):
            score = model.pretext(*make_jigsaw(images, model.perms, model.hparams.grid, jitter=False))[1].item()
        elif isinstance(model, Inpainting):
            score = model.reconstruct(images, model.sample_mask(len(images), images.device))[0].item()
        else:
            num_patches = model.decoder.pos_embed.shape[1]
            score = model.reconstruct(images, *random_patch_split(len(images), num_patches, model.hparams.mask_ratio))[0].item()
    model.train(was_training)
    return score


def run(name: str, args: argparse.Namespace) -> dict[str, float | str]:
    cls, kwargs = METHODS[name]
    if cls is not MAE:
        kwargs = dict(kwargs, backbone_kwargs={"width": args.width})
    if cls is Rotation:
        kwargs["head_hidden_dim"] = args.rotation_head_hidden
    lr = args.lr
    L.seed_everything(0)
    model = cls(**kwargs, optimizer=lambda groups: torch.optim.AdamW(groups, lr=lr, weight_decay=1e-4))
    random_twin = copy.deepcopy(model)  # the exact weights the run starts from
    dm = FashionMNISTDataModule(root=str(REPO / "data"), image_size=28, batch_size=args.batch_size, num_workers=0,
                                max_train_samples=args.samples)
    dm.setup("fit")
    before = pretext_score(model, dm)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=args.epochs, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        limit_val_batches=0)
    start = time.perf_counter()
    trainer.fit(model, dm)
    seconds = time.perf_counter() - start
    after = pretext_score(model, dm)
    probe = linear_probe(model, dm, lrs=(1e-3, 3e-3), epochs=args.probe_epochs)
    probe_random = linear_probe(random_twin, dm, lrs=(1e-3, 3e-3), epochs=args.probe_epochs)
    kind = "pretext top-1" if cls in (Rotation, Jigsaw) else "masked MSE"
    return {"method": name, "kind": kind, "before": before, "after": after, "probe": probe["val_top1"],
            "random": probe_random["val_top1"], "seconds": seconds,
            "img_s": args.epochs * (args.samples // args.batch_size) * args.batch_size / seconds}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--samples", type=int, default=4096, help="Fashion-MNIST training images")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--width", type=int, default=16, help="width of the tiny conv net (not MAE)")
    parser.add_argument("--rotation-head-hidden", type=int, default=256, help="hidden width of the rotation head")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--probe-epochs", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None, help="append a markdown table here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.methods:
        r = run(name, args)
        rows.append(r)
        print(r, flush=True)
    header = ("| method | held-out pretext metric | before | after | linear probe (trained) | linear probe (random "
              "weights) | train s | img/s |\n|---|---|---|---|---|---|---|---|")
    lines = [f"| {r['method']} | {r['kind']} | {r['before']:.3f} | {r['after']:.3f} | {r['probe']:.3f} | "
             f"{r['random']:.3f} | {r['seconds']:.0f} | {r['img_s']:.0f} |" for r in rows]
    table = "\n".join([header, *lines])
    print(table)
    if args.out:
        cmd = " ".join([".venv/bin/python", "benchmarks/pretext_cpu.py", *(argv if argv is not None else sys.argv[1:])])
        with open(args.out, "a") as f:
            f.write(f"\n`{cmd}`\n\n{table}\n")


if __name__ == "__main__":
    main()
