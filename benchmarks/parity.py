"""Peer parity (issue 12): each method LightlySSL also implements, trained by (a) vision_ssl through its normal
CLI/config path and (b) a plain loop of lightly's own transforms, heads, losses and momentum helpers, with the
same backbone, data subset, epochs, batch, optimizer, LR schedule, temperature and normalisation; both scored by
one evaluator (kNN k = 200 and a linear probe on frozen, un-augmented features; test split).

    make bench-parity                                                    # every shared method, 3 seeds
    python -m benchmarks.parity --methods simclr byol --samples 8192 --epochs 3 --seeds 0 1 2
    python -m benchmarks.parity --smoke --methods simclr --out /tmp/parity   # 1-epoch check

Recipes: benchmarks/lib/parity_recipes.py; the lightly loop: benchmarks/lib/parity_lightly.py (DINO's and I-JEPA's models:
parity_lightly_ema.py). Resumable per (method, impl, seed) at the same budget; results are written after every run
to benchmarks/results/peer_parity.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from benchmarks.lib.budget_runs import limit_test, score
from benchmarks.lib.env import RESULTS, LoadSampler, environment, write_json
from benchmarks.lib.parity_recipes import RECIPES, as_record, vision_ssl_config, with_budget
from vision_ssl.data import FashionMNISTDataModule
from vision_ssl.registry import METHODS
from vision_ssl.transforms import Normalize

IMPLS = ("vision_ssl", "lightly")


def lightly_available() -> bool:
    try:
        import lightly  # noqa: F401
    except ImportError:
        return False
    return True


def run_vision_ssl(method: str, r: Any, seed: int, args: argparse.Namespace, run_dir: Path) -> tuple[Any, Any, dict]:
    """`vision-ssl fit --config <run_dir>/config.yaml`, in process; returns backbone, normalize and timings."""
    from vision_ssl.cli import build_cli
    from vision_ssl.utils.callbacks import Throughput

    run_dir.mkdir(parents=True, exist_ok=True)
    config = run_dir / "config.yaml"
    config.write_text(yaml.safe_dump(vision_ssl_config(method, r, seed, args.root, str(run_dir)), sort_keys=False))
    start = time.perf_counter()
    cli = build_cli(["fit", "--config", str(config)])
    wall = time.perf_counter() - start
    meter = next(cb for cb in cli.trainer.callbacks if isinstance(cb, Throughput))
    return cli.model.backbone, cli.model.normalize, {"wall_s": wall, "images_per_s": meter.images_per_second,
                                                     "config": str(config)}


def run_lightly(method: str, r: Any, seed: int, dm: Any) -> tuple[Any, Any, dict]:
    from benchmarks.lib.parity_lightly import train_reference

    train = dm.train_set  # the same seeded subset the vision_ssl data module trains on
    images = train.dataset.images[torch.as_tensor(train.indices)]
    start = time.perf_counter()
    backbone, timing = train_reference(method, r, images, seed)
    timing["wall_s"] = time.perf_counter() - start
    return backbone, Normalize(None, r.mean, r.std), timing


def reproduce_command(method: str, impl: str, seed: int) -> str:
    argv, skip = [], False
    for a in sys.argv[1:]:
        if skip and not a.startswith("--"):
            continue
        skip = a in ("--methods", "--seeds", "--impls")
        if not skip:
            argv.append(a)
    return shlex.join(["python", "-m", "benchmarks.parity", "--methods", method, "--impls", impl, "--seeds",
                       str(seed), *argv])


def _ms(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for method in dict.fromkeys(r["method"] for r in records):
        for impl in IMPLS:
            rs = [r for r in records if r["method"] == method and r["impl"] == impl]
            if rs:
                knn, lin = _ms([r["knn_top1"] for r in rs]), _ms([r["linear_top1"] for r in rs])
                out.append({"method": method, "impl": impl, "seeds": sorted(r["seed"] for r in rs), "knn": knn,
                            "linear": lin, "wall_s": statistics.mean(r["wall_s"] for r in rs),
                            "images_per_s": statistics.median(r["images_per_s"] for r in rs),
                            "load": statistics.mean(r["load_avg_mean"] for r in rs)
                            if all("load_avg_mean" in r for r in rs) else None,
                            "budget": f"{rs[0]['train_samples']} images x {rs[0]['epochs']} epochs"})
    return out


def verdict(ours: dict[str, Any], ref: dict[str, Any], key: str) -> str:
    """'level or better' when ours is at most 2 std (the larger of the two) below lightly's mean."""
    if len(ours["seeds"]) < 2 or len(ref["seeds"]) < 2:
        return "n/a (1 seed)"
    gap, tol = ours[key][0] - ref[key][0], 2 * max(ours[key][1], ref[key][1])
    return f"{100 * gap:+.1f} ({'level or better' if gap >= -tol else 'behind'})"


def _cell(ms: tuple[float, float], seeds: int) -> str:
    return f"{100 * ms[0]:.1f} ± {100 * ms[1]:.1f}" if seeds > 1 else f"{100 * ms[0]:.1f}"


def markdown(summary: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    env = meta["environment"]
    lines = [
        "# Peer parity: vision_ssl against LightlySSL, same recipe, one evaluator", "",
        f"Written by `{env['command']}`. Each method trained by vision_ssl through `vision-ssl fit` "
        "(a config from benchmarks/lib/parity_recipes.py) and by a plain loop of lightly's transforms, heads, losses "
        "and momentum helpers (benchmarks/lib/parity_lightly.py): same backbone (`tiny`, a ViT for MAE and I-JEPA) and "
        "initial weights, data subset (seeded, data seed 0), epochs, batch, AdamW, warm-up + cosine per step, "
        "temperature, views and Fashion-MNIST normalisation. Scores on the test split from frozen, un-augmented "
        "features: kNN k = 200, T = 0.07 and a linear probe (lr chosen on val). Mean ± std over seeds; `gap` is "
        "vision_ssl minus lightly in points, 'level or better' when no more than 2 std below. Load: the 1-minute load "
        "average sampled every 30 s while a run trained, mean over seeds (2 cores: above 2, runs shared the CPU).", "",
        f"Machine: {env['cpu']}, {env['cpu_cores']} cores (shared), torch threads {env['torch_threads']}. "
        f"Versions: {', '.join(f'{k} {v}' for k, v in env['versions'].items() if v)}.", "",
        "| method | impl | budget | seeds | kNN top-1 (%) | linear top-1 (%) | kNN gap | linear gap | train wall s | "
        "train images/s | load |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in summary:
        ref = next((t for t in summary if t["method"] == s["method"] and t["impl"] == "lightly"), None)
        gaps = ["", ""] if s["impl"] == "lightly" or ref is None else [verdict(s, ref, "knn"), verdict(s, ref, "linear")]
        n, load = len(s["seeds"]), "-" if s.get("load") is None else f"{s['load']:.1f}"
        lines.append(f"| {s['method']} | {s['impl']} | {s['budget']} | {n} | {_cell(s['knn'], n)} | "
                     f"{_cell(s['linear'], n)} | {gaps[0]} | {gaps[1]} | {s['wall_s']:.0f} | {s['images_per_s']:.0f} | {load} |")
    lines += ["", *(f"Note: {n}" for n in meta.get("notes", []))] if meta.get("notes") else []
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = [m for m in RECIPES if m in METHODS]
    p.add_argument("--methods", nargs="+", default=shared, choices=shared)
    p.add_argument("--impls", nargs="+", default=list(IMPLS), choices=IMPLS)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--samples", type=int, default=8192, help="training images (seeded subset of the 54k carve)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--probe-epochs", type=int, default=50)
    p.add_argument("--max-test", type=int, default=None, help="test images scored (default: all 10,000)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--root", default="data")
    p.add_argument("--out", default=str(RESULTS / "peer_parity"), help="results stem (.json, .md)")
    p.add_argument("--run-dir", default="runs/peer_parity", help="configs and checkpoints of the vision_ssl runs")
    p.add_argument("--smoke", action="store_true", help="512 images, 1 epoch, seed 0, 1000 test images")
    args = p.parse_args(argv)
    if args.smoke:
        args.samples, args.epochs, args.seeds, args.max_test, args.probe_epochs = 512, 1, [0], 1000, 5
    return args


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    impls = [i for i in args.impls if i != "lightly" or lightly_available()]
    if len(impls) < len(args.impls):
        print("lightly is not installed (`make bench-install`): running the vision_ssl side only", flush=True)
    stem = Path(args.out)
    records: list[dict[str, Any]] = json.loads(stem.with_suffix(".json").read_text())["records"] \
        if stem.with_suffix(".json").exists() else []
    dm = FashionMNISTDataModule(root=args.root, image_size=28, batch_size=args.batch_size, num_workers=0,
                                max_train_samples=args.samples, seed=0)
    limit_test(dm, args.max_test)
    meta = {"environment": environment(), "config": vars(args)}
    for seed in args.seeds:  # seeds outermost: every method gets its first seed before any gets a third
        for method in args.methods:
            for impl in impls:
                key = (method, impl, seed, len(dm.train_set), args.epochs)
                if any((r["method"], r["impl"], r["seed"], r["train_samples"], r["epochs"]) == key for r in records):
                    print(f"{method} {impl} seed {seed}: done, skipped", flush=True)
                    continue
                r = with_budget(method, args.epochs, args.samples, args.batch_size)
                run_dir = Path(args.run_dir) / f"{method}_seed{seed}_e{args.epochs}_n{args.samples}"
                with LoadSampler() as load:
                    if impl == "vision_ssl":
                        backbone, normalize, timing = run_vision_ssl(method, r, seed, args, run_dir)
                    else:
                        backbone, normalize, timing = run_lightly(method, r, seed, dm)
                scores = score(backbone, normalize, dm, seed, args.probe_epochs, finetune_epochs=0)
                rec = {"method": method, "impl": impl, "seed": seed, "knn_top1": scores["knn_top1"],
                       "linear_top1": scores["linear_top1"], "linear_val_top1": scores["linear_val_top1"],
                       "wall_s": timing["wall_s"], "images_per_s": timing["images_per_s"],
                       "train_samples": len(dm.train_set), "epochs": args.epochs, "test_samples": scores["test_samples"],
                       "recipe": as_record(r), "command": reproduce_command(method, impl, seed), **load.summary()}
                records.append(rec)
                write_json(stem.with_suffix(".json"), {**meta, "summary": summarise(records), "records": records})
                stem.with_suffix(".md").write_text(markdown(summarise(records), meta))
                print(f"{method} {impl} seed {seed}: kNN {rec['knn_top1']:.4f} linear {rec['linear_top1']:.4f} "
                      f"({rec['wall_s']:.0f}s, {rec['images_per_s']:.0f} img/s, load {rec['load_avg_mean']})", flush=True)
    return records


if __name__ == "__main__":
    main()
