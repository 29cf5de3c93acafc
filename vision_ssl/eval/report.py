"""One comparison report: every encoder evaluated with the same protocol on the same data.

For each encoder (checkpoints of any method, `random:CKPT`, ImageNet encoders; see `vision_ssl.eval.encoders`):
frozen features of train/val/test are extracted once; the linear probe picks lr and weight decay on val and
reports test top-1 once; kNN (k = 200, T = 0.07) reports test top-1; RankMe is computed on the val features;
fine-tuning (optional, fixed schedule, a seeded labelled fraction) reports test top-1. Runs that differ only by
seed are aggregated as mean ± std. Writes `report.md`, `report.csv` (one row per run) and, under `projector/`,
the embeddings of a validation subset with image thumbnails for TensorBoard's projector
(`tensorboard --logdir OUT/projector`).

    vision-ssl report runs/simclr/.../last.ckpt runs/supervised/.../last.ckpt random:runs/simclr/.../last.ckpt \\
        efficientnet_lite0_package --out benchmarks/results/fashion_mnist_report
"""

from __future__ import annotations

import argparse
import csv
import re
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Subset

from vision_ssl import projector
from vision_ssl.encoder_options import add_encoder_args, data_overrides
from vision_ssl.eval.encoders import Encoder, is_checkpoint_spec, load_encoder
from vision_ssl.eval.features import extract_splits
from vision_ssl.eval.finetune import finetune
from vision_ssl.eval.linear_probe import probe_features
from vision_ssl.metrics.collapse import rankme
from vision_ssl.metrics.knn import knn_top1

COLUMNS = ["method", "backbone", "epochs", "seed", "linear_top1", "knn_top1", "finetune_top1", "rankme",
           "linear_val_top1", "linear_lr", "linear_wd", "knn_val_top1", "finetune_val_top1", "num_features",
           "seconds", "spec"]
METRICS = [("linear_top1", "linear top-1"), ("knn_top1", "kNN top-1"), ("finetune_top1", "fine-tune top-1"),
           ("rankme", "RankMe")]


def limit_test(dm, n: int, seed: int = 0) -> None:  # noqa: ANN001
    """Replace the test split by a seeded random subset of `n` images (the same for every encoder)."""
    dm.setup(None)
    if n < len(dm.test_set):
        idx = torch.randperm(len(dm.test_set), generator=torch.Generator().manual_seed(seed))[:n]
        dm.test_set = Subset(dm.test_set, idx.sort().values.tolist())


def evaluate(enc: Encoder, dm, args: argparse.Namespace) -> dict[str, Any]:  # noqa: ANN001
    """All evaluators on one encoder; returns one CSV row."""
    start = time.perf_counter()
    feats = extract_splits(enc.backbone, enc.normalize, dm, test=True, device=args.device)
    lin = probe_features(feats, dm.num_classes, lrs=args.lrs, wds=args.wds, epochs=args.probe_epochs)
    tr_x, tr_y = feats["train"]
    row: dict[str, Any] = {
        "method": enc.method, "backbone": enc.arch, "epochs": enc.epochs, "seed": enc.seed, "spec": enc.spec,
        "linear_top1": lin["test_top1"], "linear_val_top1": lin["val_top1"], "linear_lr": lin["lr"],
        "linear_wd": lin["wd"], "knn_top1": knn_top1(tr_x, tr_y, *feats["test"], dm.num_classes, args.k, args.temperature),
        "knn_val_top1": knn_top1(tr_x, tr_y, *feats["val"], dm.num_classes, args.k, args.temperature),
        "rankme": rankme(feats["val"][0][: args.rankme_samples]), "num_features": tr_x.shape[1],
        "finetune_top1": "", "finetune_val_top1": "",
    }
    if args.finetune_epochs > 0:
        ft = finetune(enc.backbone, enc.normalize, dm, args.finetune_epochs, lr=args.finetune_lr, label_fraction=args.finetune_fraction,
                      batch_size=args.finetune_batch_size, test=True, device=args.device, seed=args.seed)
        row["finetune_top1"], row["finetune_val_top1"] = ft["test_top1"], ft["val_top1"]
    row["seconds"] = round(time.perf_counter() - start, 1)
    return row


def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows grouped by (method, backbone, epochs): `mean ± std` strings over seeds, with `n`."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["backbone"], str(r["epochs"])), []).append(r)
    out = []
    for (method, backbone, epochs), rs in groups.items():
        agg: dict[str, Any] = {"method": method, "backbone": backbone, "epochs": epochs, "n": len(rs),
                               "seeds": ",".join(str(r["seed"]) for r in rs)}
        for key, _ in METRICS:
            vals = [float(r[key]) for r in rs if r[key] != ""]
            scale, digits = (1, 1) if key == "rankme" else (100, 2)
            if not vals:
                agg[key] = "—"
            elif len(vals) == 1:
                agg[key] = f"{scale * vals[0]:.{digits}f}"
            else:
                agg[key] = f"{scale * statistics.mean(vals):.{digits}f} ± {scale * statistics.stdev(vals):.{digits}f}"
        out.append(agg)
    return out


def write_markdown(rows: list[dict[str, Any]], path: Path, args: argparse.Namespace, data: str) -> None:
    ft = (f"{args.finetune_epochs} epochs (batch {args.finetune_batch_size}, head lr {args.finetune_lr:g}, backbone lr {args.finetune_lr / 10:g}, AdamW, "
          f"cosine) on a seeded {args.finetune_fraction:.0%} of the train labels"
          if args.finetune_epochs > 0 else "not run (`--finetune-epochs 0`)")
    test = f"a seeded subset of {args.max_test_samples} test images" if args.max_test_samples else "the test split"
    lines = [
        "# Evaluation report", "",
        f"Data: {data}; top-1 on {test}, in %, mean ± std over seeds where n > 1; RankMe on up to "
        f"{args.rankme_samples} validation features.", "",
        f"- linear probe: frozen features, lr in {args.lrs} x weight decay in {args.wds} chosen on val, "
        f"{args.probe_epochs} epochs", f"- kNN: k = {args.k}, T = {args.temperature}, cosine similarity",
        f"- fine-tune: {ft}", "",
        "| method | backbone | epochs | seeds | " + " | ".join(name for _, name in METRICS) + " |",
        "|---|---|---|---|" + "---|" * len(METRICS),
    ]
    for a in aggregate(rows):
        lines.append(f"| {a['method']} | {a['backbone']} | {a['epochs']} | {a['seeds']} (n={a['n']}) | "
                     + " | ".join(str(a[k]) for k, _ in METRICS) + " |")
    lines += ["", "Made by:", "", "```", "vision-ssl report " + shlex.join(sys.argv[1:] if args.argv is None else args.argv),
              "```", ""]
    path.write_text("\n".join(lines))


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


@torch.no_grad()
def write_report_projector(encoders: list[tuple[str, Encoder]], dm, out: Path, n: int, device: str) -> None:  # noqa: ANN001
    """Embeddings of the first `n` validation images of each encoder, with labels and thumbnails."""
    dm.setup("fit")
    images = torch.stack([dm.val_set[i][0] for i in range(min(n, len(dm.val_set)))])  # (n, C, H, W) uint8
    labels = [int(dm.val_set[i][1]) for i in range(len(images))]
    embeddings = {}
    for tag, enc in encoders:
        enc.backbone.eval().to(device)
        z = enc.backbone(enc.normalize.to(device)(images.to(device))).float().cpu()
        embeddings[re.sub(r"[^A-Za-z0-9.]+", "_", tag).strip("_")] = z
    projector.write_projector(out, embeddings, images, labels)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="vision-ssl report", description=__doc__.splitlines()[0])
    add_encoder_args(parser, many=True, test=False)  # a report always gives test top-1
    parser.add_argument("--out", required=True, help="output folder (report.md, report.csv, projector/)")
    parser.add_argument("--max-test-samples", type=int, default=None, help="seeded test subset (slow CPU runs)")
    parser.add_argument("--probe-epochs", type=int, default=100)
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2])
    parser.add_argument("--wds", type=float, nargs="+", default=[0.0, 1e-2])
    parser.add_argument("--k", type=int, default=200)
    parser.add_argument("--temperature", type=float, default=0.07)
    parser.add_argument("--finetune-epochs", type=int, default=0, help="0 skips fine-tuning")
    parser.add_argument("--finetune-fraction", type=float, default=1.0, help="labelled fraction for fine-tuning")
    parser.add_argument("--finetune-batch-size", type=int, default=128)
    parser.add_argument("--finetune-lr", type=float, default=1e-2, help="head lr; the backbone's is 0.1 x this")
    parser.add_argument("--rankme-samples", type=int, default=4096)
    parser.add_argument("--projector-samples", type=int, default=500, help="0 skips the projector export")
    parser.add_argument("--seed", type=int, default=0, help="seed of random baselines and fine-tuning")
    args = parser.parse_args(argv)
    args.argv = argv
    data_from = args.data_from or next((s.removeprefix("random:") for s in args.encoders if is_checkpoint_spec(s)), None)
    if data_from is None and args.data is None:
        parser.error("give at least one checkpoint, --data-from CKPT or --data NAME_OR_FOLDER, to define the data")
    overrides = data_overrides(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    encoders: list[tuple[str, Encoder]] = []
    dm = None
    for spec in args.encoders:
        enc, dm = load_encoder(spec, data_from, args.image_size, args.seed, data=args.data, **overrides)
        if args.max_test_samples is not None:
            limit_test(dm, args.max_test_samples)
        row = evaluate(enc, dm, args)
        ft = "-" if row["finetune_top1"] == "" else f"{row['finetune_top1']:.4f}"
        print(f"{enc.method:>20} {enc.arch:<28} seed {enc.seed}: linear {row['linear_top1']:.4f}  kNN "
              f"{row['knn_top1']:.4f}  fine-tune {ft}  RankMe {row['rankme']:.1f}  "
              f"({row['seconds']:.0f}s)", flush=True)
        rows.append(row)
        encoders.append((f"{len(encoders)}_{enc.method}_{enc.arch}_seed{enc.seed}", enc))
    assert dm is not None  # argparse gives at least one encoder (nargs='+')
    data = f"{type(dm).__name__}({', '.join(f'{k}={v}' for k, v in dict(dm.hparams).items() if not k.startswith('_'))})"
    write_csv(rows, out / "report.csv")
    write_markdown(rows, out / "report.md", args, data)
    if args.projector_samples > 0:
        write_report_projector(encoders, dm, out / "projector", args.projector_samples, args.device)
    print((out / "report.md").read_text())


if __name__ == "__main__":
    main()
