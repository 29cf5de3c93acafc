"""Before/after CPU timing of the training hot path: one run, two source trees, interleaved.

    python benchmarks/step_before_after.py --before /path/to/old/checkout --out benchmarks/results/step_before_after

Each (tree, method) is timed in its own subprocess with `PYTHONPATH=<tree>`, so the same venv runs the old and the
new code on the same data, threads and machine; trees alternate within each repeat, so load changes hit both. Per
method: the in-memory loader alone (images/s), training steps through Lightning (images/s, view augmentation,
online probe and monitors included) and, for the methods that override it, a validation pass (seconds).
The probe script (`step_probe.py`) only uses the surface both trees share (constructors, Trainer.fit/validate).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_probe(tree: str, method: str, args: argparse.Namespace) -> dict:
    env = {**os.environ, "PYTHONPATH": tree, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(HERE / "step_probe.py"), "--method", method, "--root", args.root,
           "--steps", str(args.steps), "--batch-size", str(args.batch_size)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd="/tmp")
    if out.returncode:
        raise RuntimeError(f"{tree} {method}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="checkout of the old code")
    parser.add_argument("--after", default=str(HERE.parent), help="checkout of the new code (default: this one)")
    parser.add_argument("--methods", nargs="+", default=["simclr", "mocov2", "jigsaw", "inpainting", "mae", "rotation"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--before-label", default="the old commit", help="what `--before` is, for the table")
    parser.add_argument("--after-label", default="this checkout", help="what `--after` is, for the table")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--root", default=str(HERE.parent / "data"))
    parser.add_argument("--out", default=str(HERE / "results" / "step_before_after"))
    args = parser.parse_args()
    out_json = Path(args.out + ".json")
    records = json.loads(out_json.read_text()) if out_json.exists() else []  # a rerun continues
    done = {(r["tree"], r["repeat"], r["method"]) for r in records}
    for repeat in range(args.repeats):
        for method in args.methods:
            for label, tree in (("before", args.before), ("after", args.after)):
                if (label, repeat, method) in done:
                    continue
                rec = {"tree": label, "repeat": repeat, **run_probe(tree, method, args)}
                records.append(rec)
                out_json.write_text(json.dumps(records, indent=1) + "\n")
                print(json.dumps(rec), flush=True)
    lines = [f"# Training hot path on the CPU, before and after (`python benchmarks/{Path(__file__).name} --before "
             f"<old checkout>`)", "",
             f"Trees: before = {args.before_label}, after = {args.after_label}. {args.repeats} interleaved repeats, "
             f"median shown; batch {args.batch_size}, `tiny` width 16 (MAE: 6-block ViT, patch 4), 28 px "
             "Fashion-MNIST, 1 torch thread per process, on the shared 2-core CPU (other jobs were running, so "
             "absolute numbers are noisy; before and after alternate, so both saw the same load). Loader: the "
             "in-memory train loader alone; train: steps through Lightning (views, online probe, monitor); "
             "val: `trainer.validate` on 4 batches.", "",
             "| method | loader img/s before | after | train img/s before | after | speed-up | val s before | after |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for method in args.methods:
        med = {t: {k: statistics.median(r[k] for r in records if r["tree"] == t and r["method"] == method)
                   for k in ("loader_img_per_s", "train_img_per_s", "val_s")} for t in ("before", "after")}
        b, a = med["before"], med["after"]
        lines.append(f"| {method} | {b['loader_img_per_s']:.0f} | {a['loader_img_per_s']:.0f} | {b['train_img_per_s']:.0f} "
                     f"| {a['train_img_per_s']:.0f} | {a['train_img_per_s'] / b['train_img_per_s']:.2f}x "
                     f"| {b['val_s']:.2f} | {a['val_s']:.2f} |")
    Path(args.out + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
