"""Full Fashion-MNIST at a real budget: every registered image method, supervised-from-scratch, random twins and
frozen ImageNet EfficientNet-Lite0, scored by linear probe, kNN and 10 %-label fine-tune top-1 (issue 12).

    make bench-full                                                  # the campaign (hours on one CPU thread)
    .venv/bin/python benchmarks/full_budget.py --runs simclr@0 random:simclr@0   # chosen (method, seed) pairs
    .venv/bin/python benchmarks/full_budget.py --smoke --runs simclr@0 --out /tmp/smoke   # a 1-epoch check
    .venv/bin/python benchmarks/full_budget.py --report-only         # rewrite table and plot from the JSON
    .venv/bin/python benchmarks/full_budget.py --rescore-finetune    # fine-tune column at the val-chosen lr scale

Resumable per (method, seed): a pair already in the JSON at this budget is skipped, and a killed run continues
from its `last.ckpt` (saved after every epoch under --ckpt-dir). Results are written after every pair, so a
campaign can be committed as it goes. Training and scoring: benchmarks/budget_runs.py; table and plot:
benchmarks/budget_report.py. Results: benchmarks/results/full_fashion_mnist.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch

sys.path.insert(0, os.path.dirname(__file__))
from budget_report import markdown, row_order, summarise, write_plot  # noqa: E402
from budget_runs import limit_test, score, train  # noqa: E402
from common import IMAGE_METHODS, RESULTS, build_method, environment, write_json  # noqa: E402

from vision_ssl.data import FashionMNISTDataModule  # noqa: E402
from vision_ssl.registry import METHODS  # noqa: E402

IMAGENET = "efficientnet_lite0_imagenet"
THREE_SEEDS = ("simclr", "random:simclr", "supervised", "byol", "vicreg", "random:mae")  # issue 12: >= 3 seeds
FIRST = ("simclr", "random:simclr", "supervised", "byol", "vicreg")  # the most evidence first


def image_methods() -> list[str]:
    """Every method with a CPU recipe that is registered (next_frame is video, so not in IMAGE_METHODS)."""
    return [m for m in IMAGE_METHODS if m in METHODS]


def default_plan() -> list[str]:
    """`method@seed` in campaign order: seed 0 of SimCLR, its random twin, supervised, BYOL, VICReg, then every
    other method (ViT twins just before their methods, and MAE's supervised twin on its ViT just after it: MAE is the
    best linear probe, so its own architecture's supervised row is the comparison the issue asks for) and ImageNet;
    then seeds 1 and 2 of THREE_SEEDS."""
    rest = []
    for m in image_methods():
        if m in FIRST:
            continue
        if m in ("mae", "ijepa"):
            rest.append(f"random:{m}")
        rest.append(m)
        if m == "mae":
            rest.append("supervised:mae")
    order = [*FIRST, IMAGENET, *rest]
    return [f"{m}@0" for m in order] + [f"{m}@{s}" for s in (1, 2) for m in THREE_SEEDS if m.split(":")[-1] in METHODS]


def parse_run(token: str) -> tuple[str, int]:
    method, _, seed = token.rpartition("@")
    if not method or not seed.isdigit():
        raise SystemExit(f"--runs takes METHOD@SEED (e.g. simclr@0, random:mae@1), got '{token}'")
    base = method.removeprefix("random:").removeprefix("supervised:")
    if method != IMAGENET and base not in image_methods():
        raise SystemExit(f"unknown method '{method}': use one of {', '.join(image_methods())}, random:<method>, "
                         f"supervised:<method> or {IMAGENET}")
    return method, int(seed)


def reproduce_command(method: str, seed: int) -> str:
    """The command that (re)makes one record: this invocation with `--runs method@seed` and no campaign flags."""
    argv, skip = [], False
    for a in sys.argv[1:]:
        if skip and not a.startswith("--"):
            continue
        skip = a == "--runs"
        if a not in ("--runs", "--resume"):
            argv.append(a)
    return shlex.join(["python", "benchmarks/full_budget.py", "--runs", f"{method}@{seed}", *argv])


def run_one(method: str, seed: int, args: argparse.Namespace, dm: Any, cache: dict[str, Any]) -> dict[str, Any]:
    """Train (unless a baseline) and score one (method, seed)."""
    start = time.perf_counter()
    L.seed_everything(seed, verbose=False)
    rec: dict[str, Any] = {"method": method, "seed": seed, "epochs": args.epochs, "train_samples": len(dm.train_set)}
    if method == IMAGENET:
        from vision_ssl.eval import extract_splits
        from vision_ssl.eval.imagenet import PACKAGE_SPEC, ImageNetEncoder

        enc = ImageNetEncoder(PACKAGE_SPEC, image_size=args.imagenet_size)
        if IMAGENET not in cache:  # frozen weights: features once; the probe's and fine-tune's seeds change
            cache[IMAGENET] = extract_splits(enc.backbone, enc.normalize, dm, test=True)
        rec.update(backbone=f"tf_efficientnet_lite0 (ImageNet-1k, frozen, {args.imagenet_size}px)", epochs=0, curve=[])
        rec.update(score(enc.backbone, enc.normalize, dm, seed, args.probe_epochs, args.finetune_epochs, cache[IMAGENET]))
    else:
        base = method.removeprefix("random:")
        model = network(base, args.width, args.crop_scale, args.set)
        hp = model.hparams
        rec["backbone"] = hp.backbone + (f"({hp.backbone_kwargs})" if hp.backbone_kwargs else "")
        if method.startswith("random:"):  # the seed's initial weights, untrained
            from accuracy import knn_val
            from budget_runs import curve_data

            rec.update(epochs=0, curve=[knn_val(model.backbone, model.normalize, curve_data(dm, args.curve_bank))])
        else:
            rec.update(train(model, dm, args.epochs, run_dir(args, base, seed, len(dm.train_set)), args.curve_bank))
        rec.update(score(model.backbone, model.normalize, dm, seed, args.probe_epochs, args.finetune_epochs))
    rec.update(command=reproduce_command(method, seed), wall_s=time.perf_counter() - start)
    return rec


def network(name: str, width: int, crop_scale: tuple[float, float] | None = None,
            overrides: dict[str, Any] | None = None) -> Any:
    """The registered method `name` with its CPU recipe, or for `supervised:<method>` supervised-from-scratch on that
    method's backbone with its optimiser settings (the ViTs' lr 1e-3 and weight decay 0.05), so that an SSL method
    meets a supervised baseline of its own architecture. `crop_scale` replaces the recipe's crop area range (0.2, 1)
    of the methods trained on SimCLR views; a method with its own views (pretexts, DINO, LeJEPA, I-JEPA) refuses it.
    `overrides` are constructor arguments over the recipe (`--set`)."""
    from common import METHOD_ARGS

    extra: dict[str, Any] = dict(overrides or {})
    if crop_scale is not None:
        if METHOD_ARGS[name.removeprefix("supervised:")].get("augment", {}) is None:
            raise SystemExit(f"--crop-scale applies to methods trained on SimCLR views; '{name}' makes its own views")
        extra["augment"] = {"crop_scale": tuple(crop_scale)}
    if not name.startswith("supervised:"):
        try:
            return build_method(name, width=width, **extra)
        except TypeError as e:  # an unknown --set key
            raise SystemExit(f"--set for {name}: {e}") from None
    own = METHOD_ARGS[name.removeprefix("supervised:")]
    keep = {k: own[k] for k in ("backbone", "backbone_kwargs", "lr", "weight_decay") if k in own}
    if "vit" in keep.get("backbone", ""):  # MAE and I-JEPA size their ViT themselves; plain supervised does not
        keep["backbone_kwargs"] = {"img_size": 28, **keep["backbone_kwargs"]}
    return build_method("supervised", width=width, **keep, **extra)


def run_dir(args: argparse.Namespace, base: str, seed: int, train_samples: int) -> str:
    """Where the trained run of (base method, seed) keeps its `last.ckpt`."""
    variant = "" if args.crop_scale is None else "_crop{:g}-{:g}".format(*args.crop_scale)
    variant += "".join(f"_{k}{v}" for k, v in sorted((args.set or {}).items()))
    return os.path.join(args.ckpt_dir,
                        f"{base.replace(':', '_')}_seed{seed}_e{args.epochs}_n{train_samples}_w{args.width}{variant}")


def saved_encoder(method: str, seed: int, args: argparse.Namespace, train_samples: int) -> Any:
    """The scored network of a finished record, with `.backbone` and `.normalize`: the trained run's `last.ckpt`,
    the seed's initial weights for `random:<method>`, or the ImageNet encoder."""
    L.seed_everything(seed, verbose=False)
    if method == IMAGENET:
        from vision_ssl.eval.imagenet import PACKAGE_SPEC, ImageNetEncoder

        return ImageNetEncoder(PACKAGE_SPEC, image_size=args.imagenet_size)
    base = method.removeprefix("random:")
    model = network(base, args.width, args.crop_scale, args.set)
    if not method.startswith("random:"):
        ckpt = os.path.join(run_dir(args, base, seed, train_samples), "last.ckpt")
        model.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"], strict=False)
    return model


def rescore_finetune(r: dict[str, Any], args: argparse.Namespace, dm: Any) -> None:
    """Re-score record `r`'s fine-tune column from its saved network at the backbone lr scale chosen on val; the
    fixed-scale number it replaces is kept as `finetune10_top1_scale0.1`."""
    from budget_runs import score_finetune

    model = saved_encoder(r["method"], r["seed"], args, r["train_samples"])
    start = time.perf_counter()
    r["finetune10_top1_scale0.1"] = r.get("finetune10_top1")
    r.update(score_finetune(model.backbone, model.normalize, dm, r["seed"], args.finetune_epochs))
    r["rescore_finetune_s"] = time.perf_counter() - start


def budget_of(r: dict[str, Any], args: argparse.Namespace, train_samples: int) -> bool:
    """Whether record `r` was measured at this invocation's budget (so the pair is done)."""
    trained = not (r["method"].startswith("random:") or r["method"] == IMAGENET)
    return r["train_samples"] == train_samples and (not trained or r["epochs"] == args.epochs) and \
        r.get("width", args.width) == args.width and r.get("crop_scale") == args.crop_scale \
        and r.get("overrides") == args.set


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
    import yaml

    key, eq, value = text.partition("=")
    if not eq or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"--set takes KEY=VALUE with KEY a constructor argument, got '{text}'")
    return key, yaml.safe_load(value)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs="+", default=None, help="METHOD@SEED pairs in order (default: the campaign plan)")
    p.add_argument("--epochs", type=int, default=20, help="pretraining epochs over the training split (issue: >= 20)")
    p.add_argument("--width", type=int, default=16, help="width of the tiny conv backbone (issue: >= 16)")
    p.add_argument("--crop-scale", type=float, nargs=2, default=None, metavar=("MIN", "MAX"),
                   help="crop area range of the methods trained on SimCLR views (default: the recipe's 0.2 1)")
    p.add_argument("--set", nargs="+", default=None, metavar="KEY=VALUE", type=_key_value,
                   help="method constructor arguments over the recipe, e.g. proj_hidden_dim=2048 (values read as YAML)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--samples", type=int, default=None, help="training images (default: all 54,000)")
    p.add_argument("--max-test", type=int, default=None, help="test images scored (default: all 10,000)")
    p.add_argument("--probe-epochs", type=int, default=50)
    p.add_argument("--finetune-epochs", type=int, default=10, help="10 %%-label fine-tune epochs (0: skip)")
    p.add_argument("--curve-bank", type=int, default=10000, help="train images the per-epoch kNN curve votes with (0: all)")
    p.add_argument("--imagenet-size", type=int, default=64, help="side images are resized to for EfficientNet")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared CPU)")
    p.add_argument("--root", default="data")
    p.add_argument("--out", default=str(RESULTS / "full_fashion_mnist"), help="results stem (.json, .md, .png)")
    p.add_argument("--ckpt-dir", default="runs/full_budget", help="one last.ckpt per (method, seed) for resuming")
    p.add_argument("--report-only", action="store_true", help="only rewrite the table and plot from the JSON")
    p.add_argument("--rescore-finetune", action="store_true",
                   help="re-score the fine-tune column of the records in the plan at the val-chosen backbone lr scale")
    p.add_argument("--smoke", action="store_true", help="512 images, 1 epoch, 1000 test images, short probe/fine-tune")
    args = p.parse_args(argv)
    args.set = dict(args.set) if args.set else None
    if args.smoke:
        args.samples, args.epochs, args.max_test, args.probe_epochs = 512, 1, 1000, 5
        args.finetune_epochs, args.curve_bank = 1, 512
    return args


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    plan = args.runs or default_plan()
    pairs = [parse_run(t) for t in plan]
    stem = Path(args.out)
    records: list[dict[str, Any]] = []
    if stem.with_suffix(".json").exists():
        records = json.loads(stem.with_suffix(".json").read_text())["records"]
    dm = FashionMNISTDataModule(root=args.root, image_size=28, batch_size=args.batch_size, num_workers=0,
                                val_fraction=0.1, max_train_samples=args.samples, seed=0)
    limit_test(dm, args.max_test)
    n_train = len(dm.train_set)
    meta = {"environment": environment(),
            "config": {**vars(args), "train_samples": n_train, "val_samples": len(dm.val_set),
                       "test_samples": len(dm.test_set)}}
    if args.report_only:
        write_all(stem, records, meta, plan)
        print(stem.with_suffix(".md").read_text())
        return records
    if args.rescore_finetune:
        for r in records:
            if (r["method"], r["seed"]) in pairs and "finetune10_backbone_lr_scale" not in r:
                print(f"{r['method']} seed {r['seed']}: fine-tune at the val-chosen lr scale", flush=True)
                rescore_finetune(r, args, dm)
                write_all(stem, records, meta, plan)
                print(f"  {r['finetune10_top1_scale0.1']:.4f} -> {r['finetune10_top1']:.4f} "
                      f"(scale {r['finetune10_backbone_lr_scale']})", flush=True)
        return records
    cache: dict[str, Any] = {}
    start = time.perf_counter()
    for method, seed in pairs:
        if any(r["method"] == method and r["seed"] == seed and budget_of(r, args, n_train) for r in records):
            print(f"{method} seed {seed}: done, skipped", flush=True)
            continue
        print(f"{method} seed {seed}: start ({n_train} images, {args.epochs} epochs)", flush=True)
        r = run_one(method, seed, args, dm, cache)
        r["width"] = args.width
        if args.crop_scale is not None:
            r["crop_scale"] = args.crop_scale
        if args.set is not None:
            r["overrides"] = args.set
        records = [x for x in records if not (x["method"] == method and x["seed"] == seed and budget_of(x, args, n_train))]
        records.append(r)
        write_all(stem, records, meta, plan)
        ft = r["finetune10_top1"]
        print(f"{method} seed {seed}: linear {r['linear_top1']:.4f} kNN {r['knn_top1']:.4f} fine-tune-10% "
              f"{'-' if ft is None else f'{ft:.4f}'} ({r['wall_s'] / 60:.1f} min; session "
              f"{(time.perf_counter() - start) / 60:.1f} min)", flush=True)
    return records


if __name__ == "__main__":
    main()
