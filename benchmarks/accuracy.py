"""Accuracy of every image method on Fashion-MNIST, trained as a user trains it: `vision-ssl fit --config
configs/<method>_fashion_mnist.yaml` (the published recipe) with budget overrides only, plus supervised-from-scratch,
random twins and frozen ImageNet EfficientNet-Lite0; scored by linear probe, kNN and 10 %-label fine-tune top-1.

    make bench-full                                                      # --budget full: the published table
    python -m benchmarks.accuracy --runs simclr@0 random:simclr@0        # chosen (method, seed) pairs
    python -m benchmarks.accuracy --budget smoke --runs simclr@0 --out /tmp/smoke   # a 1-epoch check
    python -m benchmarks.accuracy --set proj_hidden_dim=2048 --out benchmarks/results/full_fashion_mnist_proj2048
    python -m benchmarks.accuracy --report-only                          # rewrite table and plot from the JSON

Budgets: `full` is each config as written (20 epochs over the 54,000-image carve, batch 256); `short` 4 epochs over
8,192 images, no fine-tune; `smoke` 1 epoch over 512 images and 1,000 test images. Resumable per (method, seed): a
pair already in the JSON at this budget is skipped, and a killed run continues from its `last.ckpt` (after every
epoch, under --ckpt-dir). Results are written after every pair, merged under a file lock with what is on disk, so
several processes (one thread each, disjoint --runs) can fill one table side by side. Each row keeps its wall time,
training images/s and the 1-minute load average sampled while it ran. Training and scoring: benchmarks/lib/budget_runs.py;
table and plot: benchmarks/lib/budget_report.py. Results: benchmarks/results/full_fashion_mnist.{json,md,png}.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml

from benchmarks.lib.budget_report import markdown, row_order, summarise, write_plot
from benchmarks.lib.budget_runs import limit_test, score, train
from benchmarks.lib.curves import curve_data, knn_val
from benchmarks.lib.env import RESULTS, LoadSampler, environment, write_json
from vision_ssl import recipes
from vision_ssl.registry import IMAGE_METHODS

IMAGENET = "efficientnet_lite0_imagenet"
THREE_SEEDS = ("simclr", "random:simclr", "supervised", "byol", "vicreg", "dino", "random:mae")  # issues 12, 26: >= 3 seeds
FIRST = ("simclr", "random:simclr", "supervised", "byol", "vicreg")  # the most evidence first
BUDGETS: dict[str, dict[str, Any]] = {  # what each --budget changes; None keeps the config's value
    "full": dict(epochs=None, samples=None, max_test=None, probe_epochs=50, finetune_epochs=10, curve_bank=10000),
    "short": dict(epochs=4, samples=8192, max_test=None, probe_epochs=50, finetune_epochs=0, curve_bank=2048),
    "smoke": dict(epochs=1, samples=512, max_test=1000, probe_epochs=5, finetune_epochs=1, curve_bank=512),
}


def default_plan() -> list[str]:
    """`method@seed` in campaign order: seed 0 of SimCLR, its random twin, supervised, BYOL, VICReg, then every
    other method (ViT twins just before their methods, MAE's supervised twin on its ViT just after it) and ImageNet;
    then seeds 1 and 2 of THREE_SEEDS."""
    rest = []
    for m in IMAGE_METHODS:
        if m in FIRST:
            continue
        if m in ("mae", "ijepa"):
            rest.append(f"random:{m}")
        rest.append(m)
        if m == "mae":
            rest.append("supervised:mae")
    return [f"{m}@0" for m in (*FIRST, IMAGENET, *rest)] + [f"{m}@{s}" for s in (1, 2) for m in THREE_SEEDS]


def parse_run(token: str) -> tuple[str, int]:
    method, _, seed = token.rpartition("@")
    if not method or not seed.isdigit():
        raise SystemExit(f"--runs takes METHOD@SEED (e.g. simclr@0, random:mae@1), got '{token}'")
    base = method.removeprefix("random:").removeprefix("supervised:")
    if method != IMAGENET and base not in IMAGE_METHODS:
        raise SystemExit(f"unknown method '{method}': use one of {', '.join(IMAGE_METHODS)}, random:<method>, "
                         f"supervised:<method> or {IMAGENET}")
    return method, int(seed)


def recipe(name: str, args: argparse.Namespace) -> tuple[str, list[str]]:
    """Config and `vision-ssl fit` overrides of a trained row: the budget, `--set`, and for `supervised:<method>`
    the supervised config on that method's backbone and optimizer (so a ViT method meets a supervised ViT)."""
    base = name.removeprefix("supervised:")
    config = recipes.config_path("supervised" if name.startswith("supervised:") else base)
    budget = dict(epochs=args.epochs, max_train_samples=args.samples, batch_size=args.batch_size, width=args.width,
                  root=args.root)
    extra: list[str] = []
    if name.startswith("supervised:"):
        own = recipes.load(base)["model"]["init_args"]
        kwargs = dict(own.get("backbone_kwargs") or {})
        if "vit" in own["backbone"]:  # MAE and I-JEPA size their ViT themselves; plain supervised does not
            kwargs = {"img_size": 28, **kwargs}
        extra += ["--model.init_args.backbone", own["backbone"], "--model.init_args.backbone_kwargs", json.dumps(kwargs),
                  "--model.init_args.optimizer", json.dumps(own["optimizer"])]
        budget["width"] = None
    args_out = recipes.budget_args("supervised" if name.startswith("supervised:") else base, **budget) + extra
    for key, value in (args.set or {}).items():
        args_out += [f"--model.init_args.{key}", json.dumps(value)]
    return str(config), args_out


def reproduce_command(method: str, seed: int) -> str:
    """The command that (re)makes one record: this invocation with `--runs method@seed`."""
    argv, skip = [], False
    for a in sys.argv[1:]:
        if skip and not a.startswith("--"):
            continue
        skip = a == "--runs"
        if a != "--runs":
            argv.append(a)
    return shlex.join(["python", "-m", "benchmarks.accuracy", "--runs", f"{method}@{seed}", *argv])


def run_dir(args: argparse.Namespace, name: str, seed: int) -> str:
    """Where the trained run of (name, seed) keeps its `last.ckpt`."""
    variant = "".join(f"_{k}{v}" for k, v in sorted((args.set or {}).items()))
    return os.path.join(args.ckpt_dir, f"{name.replace(':', '_')}_seed{seed}_{args.budget}_e{args.epochs}_"
                                       f"n{args.samples}_w{args.width}{variant}")


def run_one(method: str, seed: int, args: argparse.Namespace, cache: dict[str, Any]) -> dict[str, Any]:
    """Train (unless a baseline) and score one (method, seed)."""
    start = time.perf_counter()
    L.seed_everything(seed, verbose=False)
    rec: dict[str, Any] = {"method": method, "seed": seed}
    if method == IMAGENET:
        from vision_ssl.eval import extract_splits
        from vision_ssl.eval.imagenet import PACKAGE_SPEC, ImageNetEncoder

        dm = data_module(args)
        enc = ImageNetEncoder(PACKAGE_SPEC, image_size=args.imagenet_size)
        if IMAGENET not in cache:  # frozen weights: features once; the probe's and fine-tune's seeds change
            cache[IMAGENET] = extract_splits(enc.backbone, enc.normalize, dm, test=True)
        rec.update(backbone=f"tf_efficientnet_lite0 (ImageNet-1k, frozen, {args.imagenet_size}px)", epochs=0, curve=[])
        rec.update(score(enc.backbone, enc.normalize, dm, seed, args.probe_epochs, args.finetune_epochs, cache[IMAGENET]))
    elif method.startswith("random:"):  # the seed's initial weights, untrained: the config built at this seed
        config, overrides = recipe(method.removeprefix("random:"), args)
        model, dm = recipes.instantiate(method.removeprefix("random:"), extra_args=[
            *overrides, "--seed_everything", str(seed)])
        limit_test(dm, args.max_test)
        rec.update(epochs=0, curve=[knn_val(model.backbone, model.normalize, curve_data(dm, args.curve_bank))])
        rec.update(score(model.backbone, model.normalize, dm, seed, args.probe_epochs, args.finetune_epochs))
    else:
        config, overrides = recipe(method, args)
        model, dm, trained = train(config, overrides, seed, run_dir(args, method, seed), args.curve_bank)
        rec.update(trained, epochs=model.trainer.max_epochs, config=os.path.relpath(config))
        limit_test(dm, args.max_test)
        rec.update(score(model.backbone, model.normalize, dm, seed, args.probe_epochs, args.finetune_epochs))
    if method != IMAGENET:
        hp = model.hparams
        rec["backbone"] = hp.backbone + (f"({hp.backbone_kwargs})" if hp.backbone_kwargs else "")
    rec.update(train_samples=len(dm.train_set), command=reproduce_command(method, seed),
               wall_s=time.perf_counter() - start)
    return rec


@contextmanager
def locked(stem: Path) -> Iterator[None]:
    """An exclusive lock beside the results, held while one process reads, merges and writes them."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    with open(stem.with_suffix(".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def read_records(stem: Path) -> list[dict[str, Any]]:
    path = stem.with_suffix(".json")
    return json.loads(path.read_text())["records"] if path.exists() else []


def data_module(args: argparse.Namespace) -> Any:
    """The data every row is scored on: the SimCLR recipe's data module at this budget (all configs share it)."""
    _, dm = recipes.instantiate("simclr", max_train_samples=args.samples, batch_size=args.batch_size, root=args.root)
    limit_test(dm, args.max_test)
    return dm


def budget_of(r: dict[str, Any], args: argparse.Namespace, train_samples: int) -> bool:
    """Whether record `r` was measured at this invocation's budget (so the pair is done)."""
    trained = not (r["method"].startswith("random:") or r["method"] == IMAGENET)
    return r["train_samples"] == train_samples and (not trained or r["epochs"] == args.epochs) and \
        r.get("width", args.width) == args.width and r.get("overrides") == args.set


def write_all(stem: Path, records: list[dict[str, Any]], meta: dict[str, Any], plan: list[str]) -> None:
    rows = row_order(records, [*dict.fromkeys(t.rpartition("@")[0] for t in plan)])
    summary = summarise(records, rows)
    write_json(stem.with_suffix(".json"), {**meta, "summary": summary, "records": records})
    stem.with_suffix(".md").write_text(markdown(summary, meta))
    cfg = meta["config"]
    write_plot(records, rows, stem.with_suffix(".png"),
               f"Fashion-MNIST, {cfg['train_samples']} images, {cfg['epochs']} epochs, tiny width {cfg['width']}: "
               "kNN val top-1 (mean of seeds)")


def _key_value(text: str) -> tuple[str, Any]:
    key, eq, value = text.partition("=")
    if not eq or not all(part.isidentifier() for part in key.split(".")):
        raise argparse.ArgumentTypeError(f"--set takes KEY=VALUE with KEY a model init argument, got '{text}'")
    return key, yaml.safe_load(value)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--budget", choices=tuple(BUDGETS), default="full",
                   help="full: the configs as written (published numbers); short / smoke: quicker checks")
    p.add_argument("--runs", nargs="+", default=None, help="METHOD@SEED pairs in order (default: the campaign plan)")
    p.add_argument("--set", nargs="+", default=None, metavar="KEY=VALUE", type=_key_value,
                   help="model init arguments over the configs, for bisects, e.g. proj_hidden_dim=2048 or "
                        "augment.init_args.crop_scale=[0.4,1.0] (values read as YAML; recorded with each row)")
    p.add_argument("--epochs", type=int, default=None, help="override the budget's epochs")
    p.add_argument("--samples", type=int, default=None, help="override the budget's training images")
    p.add_argument("--width", type=int, default=16, help="width of the tiny conv backbone (the configs': 16)")
    p.add_argument("--batch-size", type=int, default=256, help="the configs': 256")
    p.add_argument("--imagenet-size", type=int, default=64, help="side images are resized to for EfficientNet")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared CPU)")
    p.add_argument("--root", default="data")
    p.add_argument("--out", default=None, help="results stem (.json, .md, .png; default benchmarks/results/"
                                              "full_fashion_mnist for --budget full, <budget>_fashion_mnist else)")
    p.add_argument("--ckpt-dir", default="runs/accuracy", help="one last.ckpt per (method, seed) for resuming")
    p.add_argument("--report-only", action="store_true", help="only rewrite the table and plot from the JSON")
    args = p.parse_args(argv)
    args.set = dict(args.set) if args.set else None
    budget = BUDGETS[args.budget]
    args.epochs = args.epochs or budget["epochs"] or recipes.load("simclr")["trainer"]["max_epochs"]
    args.samples = args.samples or budget["samples"]
    for key in ("max_test", "probe_epochs", "finetune_epochs", "curve_bank"):
        setattr(args, key, budget[key])
    args.out = args.out or str(RESULTS / f"{args.budget}_fashion_mnist")
    return args


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    plan = args.runs or default_plan()
    pairs = [parse_run(t) for t in plan]
    stem = Path(args.out)
    records = read_records(stem)
    dm = data_module(args)
    n_train = len(dm.train_set)
    meta = {"environment": environment(),
            "config": {**vars(args), "train_samples": n_train, "val_samples": len(dm.val_set),
                       "test_samples": len(dm.test_set)}}
    if args.report_only:
        write_all(stem, records, meta, plan)
        print(stem.with_suffix(".md").read_text())
        return records
    cache: dict[str, Any] = {}
    start = time.perf_counter()
    for method, seed in pairs:
        records = read_records(stem)  # another process may have added rows since
        if any(r["method"] == method and r["seed"] == seed and budget_of(r, args, n_train) for r in records):
            print(f"{method} seed {seed}: done, skipped", flush=True)
            continue
        print(f"{method} seed {seed}: start ({n_train} images, {args.epochs} epochs)", flush=True)
        with LoadSampler() as load:
            r = run_one(method, seed, args, cache)
        r.update(load.summary(), width=args.width)
        if args.set is not None:
            r["overrides"] = args.set
        with locked(stem):
            records = [x for x in read_records(stem)
                       if not (x["method"] == method and x["seed"] == seed and budget_of(x, args, n_train))]
            records.append(r)
            write_all(stem, records, meta, plan)
        ft = r["finetune10_top1"]
        print(f"{method} seed {seed}: linear {r['linear_top1']:.4f} kNN {r['knn_top1']:.4f} fine-tune-10% "
              f"{'-' if ft is None else f'{ft:.4f}'} ({r['wall_s'] / 60:.1f} min, load {r['load_avg_mean']}; "
              f"session {(time.perf_counter() - start) / 60:.1f} min)", flush=True)
    return records

if __name__ == "__main__":
    main()
