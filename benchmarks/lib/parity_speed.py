"""Per-method training speed at the peer-parity budget (`python -m benchmarks.speed parity`): each method LightlySSL
also implements, trained by (a) `vision-ssl fit` on the parity config (benchmarks/lib/parity_recipes.py: on-device
views, online probe, monitors, TensorBoard logging, checkpoint callbacks, all as the parity run has them) and
(b) the lightly loop of `parity_lightly.train_reference` (per-sample PIL transforms in the loader, lightly's heads,
losses and momentum helpers), same batch, image size, model and optimizer.

Timing: images/s between optimizer-step timestamps after `--warmup` steps (data loading included on both sides,
model building and the first steps not), `--steps` steps per run; runs alternate ours / lightly per method and the
whole sweep repeats `--repeats` times, so drift of a shared machine hits both sides alike. Reported: the median
rate of each side, the ratio of the medians, the peak RSS growth of each side's run (`timing.PeakMemory`), and the
1-minute load average at every run.

    python -m benchmarks.speed parity                                    # all nine shared methods, 3 repeats
    python -m benchmarks.speed parity --methods byol ijepa mae --repeats 5 --out /tmp/parity_speed
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from benchmarks.lib.env import RESULTS, environment, write_json
from benchmarks.lib.method_speed import BatchClock
from benchmarks.lib.parity_recipes import RECIPES, vision_ssl_config, with_budget
from benchmarks.lib.timing import PeakMemory
from vision_ssl.data import FashionMNISTDataModule


def _rate(times: list[float], batch: int, warmup: int) -> float:
    t = times[warmup - 1:]  # times[i] ends optimizer step i + 1: t[0] ends the last warm-up step
    return (len(t) - 1) * batch / (t[-1] - t[0])


def _phases(starts: list[float], ends: list[float], warmup: int) -> dict[str, float]:
    """Median ms per timed step of `input` (from the previous step's end to this batch's start: loading,
    transforms or on-device views, loop hooks) and `model` (this batch's start to its optimizer step's end)."""
    timed = range(warmup, len(ends))
    return {"input_ms": 1000 * statistics.median(starts[i] - ends[i - 1] for i in timed),
            "model_ms": 1000 * statistics.median(ends[i] - starts[i] for i in timed)}


def lightly_installed() -> bool:
    return importlib.util.find_spec("lightly") is not None


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """`method:key=value,key=value` -> (method, model init_args overrides); values parsed as YAML."""
    method, _, sets = text.partition(":")
    if method not in RECIPES or not sets:
        raise argparse.ArgumentTypeError(f"--variant needs METHOD:KEY=VALUE[,KEY=VALUE], got '{text}'")
    return method, {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in sets.split(","))}


def time_ours(method: str, r: Any, args: argparse.Namespace, run_dir: str,
              overrides: dict[str, Any] | None = None) -> tuple[float, float | None, dict[str, float]]:
    """`vision-ssl fit` on the parity config (model init_args `overrides` applied) for warmup + steps optimizer
    steps; (images/s, peak MiB, phases)."""
    from vision_ssl.cli import build_cli

    cfg = vision_ssl_config(method, r, 0, args.root, run_dir)
    cfg["model"]["init_args"].update(overrides or {})
    cfg["trainer"]["max_steps"] = args.warmup + args.steps
    cfg["trainer"]["callbacks"].append({"class_path": "benchmarks.lib.method_speed.BatchClock"})
    config = Path(run_dir) / "config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    with PeakMemory() as mem:
        cli = build_cli(["fit", "--config", str(config)])
    clock = next(cb for cb in cli.trainer.callbacks if isinstance(cb, BatchClock))
    return _rate(clock.times, r.batch_size, args.warmup), mem.mib, _phases(clock.starts, clock.times, args.warmup)


def time_lightly(method: str, r: Any, images: torch.Tensor,
                 args: argparse.Namespace) -> tuple[float, float | None, dict[str, float]]:
    """`parity_lightly.train_reference` for warmup + steps optimizer steps; (images/s, peak MiB, phases)."""
    from benchmarks.lib.parity_lightly import train_reference

    starts: list[float] = []
    times: list[float] = []
    with PeakMemory() as mem:
        train_reference(method, r, images, 0, max_steps=args.warmup + args.steps,
                        on_step=lambda step: times.append(time.perf_counter()),
                        on_batch=lambda step: starts.append(time.perf_counter()))
    return _rate(times, r.batch_size, args.warmup), mem.mib, _phases(starts, times, args.warmup)


RESULT = "parity_speed result: "  # the line a child process reports its run on


def run_isolated(method: str, impl: str, overrides: dict[str, Any] | None, args: argparse.Namespace,
                 run_dir: str) -> dict[str, Any]:
    """One run in a fresh Python process (no allocator state, caches or memory from earlier runs): its images/s,
    RSS growth over the run and the process's peak RSS (`resource.getrusage`, imports included), in MiB."""
    one = json.dumps({"method": method, "impl": impl, "overrides": overrides or {}, "run_dir": run_dir})
    cmd = [sys.executable, "-m", "benchmarks.speed", "parity", "--run-one", one, "--samples", str(args.samples),
           "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--warmup", str(args.warmup),
           "--steps", str(args.steps), "--threads", str(args.threads), "--root", args.root]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT)]
    if proc.returncode or not lines:
        raise RuntimeError(f"{method} {impl}: the timing process failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT):])


def run_one(args: argparse.Namespace) -> None:
    """The child side of `run_isolated`: time one run, print its figures on one `RESULT` line."""
    one = json.loads(args.run_one)
    r = with_budget(one["method"], args.epochs, args.samples, args.batch_size)
    if one["impl"] == "ours":
        rate, mib, phases = time_ours(one["method"], r, args, one["run_dir"], one["overrides"])
    else:
        rate, mib, phases = time_lightly(one["method"], r, subset_images(args), args)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(RESULT + json.dumps({"img_per_s": rate, "growth_mib": mib, "max_rss_mib": peak, **phases}), flush=True)


def subset_images(args: argparse.Namespace) -> torch.Tensor:
    """The seeded training subset (uint8, (N, 1, 28, 28)) the vision_ssl data module trains on."""
    dm = FashionMNISTDataModule(root=args.root, image_size=28, batch_size=args.batch_size, num_workers=0,
                                max_train_samples=args.samples, seed=0)
    dm.setup("fit")
    return dm.train_set.dataset.images[torch.as_tensor(dm.train_set.indices)]


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for method in dict.fromkeys(r["method"] for r in runs):
        side = {impl: [r for r in runs if r["method"] == method and r["impl"] == impl] for impl in ("ours", "lightly")}
        med = {impl: statistics.median(r["img_per_s"] for r in rs) if rs else None for impl, rs in side.items()}
        mem = {impl: statistics.median(r["max_rss_mib"] for r in rs) if rs else None for impl, rs in side.items()}
        ms = {f"{impl}_{k}": statistics.median(r[k] for r in rs) if rs and all(k in r for r in rs) else None
              for impl, rs in side.items() for k in ("input_ms", "model_ms")}
        ceiling = None  # ours / lightly if our input phase took no time at all
        if ms["ours_model_ms"] and ms["lightly_input_ms"] is not None and ms["lightly_model_ms"]:
            ceiling = (ms["lightly_input_ms"] + ms["lightly_model_ms"]) / ms["ours_model_ms"]
        lightly = {r["repeat"]: r["img_per_s"] for r in side["lightly"]}
        paired = sorted(r["img_per_s"] / lightly[r["repeat"]] for r in side["ours"] if r["repeat"] in lightly)
        out.append({"method": method, "ours_img_per_s": med["ours"], "lightly_img_per_s": med["lightly"],
                     "ratio": med["ours"] / med["lightly"] if med["ours"] and med["lightly"] else None,
                     "paired_ratios": paired,
                     "ours_max_rss_mib": mem["ours"], "lightly_max_rss_mib": mem["lightly"], "repeats": len(side["ours"]),
                     **ms, "ceiling": ceiling,
                     "load_avg": [r["load_avg"] for r in runs if r["method"] == method]})
    return out


def _f(v: float | None, fmt: str = ".0f") -> str:
    return "n/a" if v is None else format(v, fmt)


def markdown(summary: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    env, cfg = meta["environment"], meta["config"]
    lines = [
        "# Per-method speed at the peer-parity budget: vision_ssl vs LightlySSL's loop, side by side", "",
        f"Written by `{env['command']}`. Ours: `vision-ssl fit` on the parity config (benchmarks/lib/parity_recipes.py; "
        "on-device views, online probe, monitors, TensorBoard logging and checkpoint callbacks as in the parity run). "
        "lightly: `parity_lightly.train_reference` (per-sample PIL transforms in the loader, lightly's heads, losses, "
        f"momentum helpers). Batch {cfg['batch_size']}, 28 px Fashion-MNIST ({cfg['samples']}-image subset), "
        f"images/s over {cfg['steps']} optimizer steps after {cfg['warmup']} warm-up steps, data loading included, "
        f"model building excluded; ours and lightly alternate per method, {cfg['repeats']} sweeps; median rates, "
        "ratio = median ours / median lightly; paired: ours / lightly of each sweep's adjacent runs (min, median, "
        "max), the figure less exposed to the machine's drift between sweeps. Every run is its own Python process; peak RSS: that process's maximum resident "
        "memory (`resource.getrusage`; imports included: torch, Lightning and the CLI on our side; torch, lightly "
        "and vision_ssl's data module and backbone factory on lightly's), median over the repeats. A row `method[key=value]` is ours with those model arguments (`--variant`), e.g. the state "
        "before a change, against the same lightly runs. Phases, median ms per timed step: input = from the end of "
        "one optimizer step to the start of the next batch's training step (ours: loader, transfer, on-device views "
        "and Lightning's hooks; lightly: its loader with per-sample transforms), model = forward, loss, backward and "
        "optimizer step (ours: online probe included); ceiling = lightly's input + model over our model, the ratio "
        "ours would reach with views and loading that cost nothing.", "",
        f"Machine: {env['cpu']}, {env['cpu_cores']} cores shared with other jobs, torch threads {env['torch_threads']}. "
        f"Versions: {', '.join(f'{k} {v}' for k, v in env['versions'].items() if v)}.", "",
        "| method | ours img/s | lightly img/s | ratio | paired ratios | ours input / model ms | lightly input / "
        "model ms | ceiling | ours peak RSS MiB | lightly peak RSS MiB | load avg (1 min) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in summary:
        load = f"{min(s['load_avg']):.1f}-{max(s['load_avg']):.1f}"
        pr = s["paired_ratios"]
        paired = f"{pr[0]:.2f}, {statistics.median(pr):.2f}, {pr[-1]:.2f}" if pr else "n/a"
        phases = [f"{_f(s.get(f'{i}_input_ms'))} / {_f(s.get(f'{i}_model_ms'))}" for i in ("ours", "lightly")]
        lines.append(f"| {s['method']} | {_f(s['ours_img_per_s'])} | {_f(s['lightly_img_per_s'])} | "
                     f"{_f(s['ratio'], '.2f')} | {paired} | {phases[0]} | {phases[1]} | {_f(s.get('ceiling'), '.2f')} | "
                     f"{_f(s['ours_max_rss_mib'])} | {_f(s['lightly_max_rss_mib'])} | {load} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed parity", description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    p.add_argument("--samples", type=int, default=8192, help="training subset, as the parity run (sets the schedules)")
    p.add_argument("--epochs", type=int, default=3, help="the parity budget's epochs (sets the schedules)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--warmup", type=int, default=3, help="optimizer steps not timed at the start of each run")
    p.add_argument("--steps", type=int, default=8, help="timed optimizer steps per run")
    p.add_argument("--repeats", type=int, default=3, help="sweeps over the methods (ours, lightly alternate)")
    p.add_argument("--impls", nargs="+", default=["ours", "lightly"], choices=["ours", "lightly"])
    p.add_argument("--variant", type=parse_variant, action="append", default=[],
                   help="METHOD:KEY=VALUE[,...]: also time ours with these model init_args (e.g. the state before "
                        "a change: mae:probe_every=4), as an extra row `METHOD[KEY=VALUE]` next to the same lightly runs")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--root", default="data")
    p.add_argument("--out", default=str(RESULTS / "parity_speed"), help="results stem (.json, .md)")
    p.add_argument("--run-one", default=None, help=argparse.SUPPRESS)  # a child process's run (`run_isolated`)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.run_one:
        run_one(args)
        return []
    if "lightly" in args.impls and not lightly_installed():
        print("lightly is not installed (`make bench-install`): timing the vision_ssl side only", flush=True)
        args.impls = [i for i in args.impls if i != "lightly"]
    command = shlex.join(["python", "-m", "benchmarks.speed", "parity", *(argv if argv is not None else sys.argv[2:])])
    meta = {"environment": {**environment(), "command": command}, "config": vars(args)}
    stem, runs = Path(args.out), []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            for method in args.methods:
                variants = [(f"{method}[{','.join(f'{k}={v}' for k, v in o.items())}]", o)
                            for m, o in args.variant if m == method]
                sides = [(method, impl, None) for impl in args.impls]
                if "ours" in args.impls:
                    sides[1:1] = [(name, "ours", o) for name, o in variants]  # ours, variants, lightly
                for name, impl, overrides in sides:
                    load = os.getloadavg()[0]
                    res = run_isolated(method, impl, overrides, args, f"{tmp}/{method}_{rep}_{len(runs)}")
                    runs.extend({"method": n, "impl": impl, "repeat": rep, **res, "load_avg": round(load, 2)}
                                for n in ([name] if impl == "ours" else [method, *(v for v, _ in variants)]))
                    print(f"{name} {impl} repeat {rep}: {res['img_per_s']:.0f} img/s, peak RSS "
                          f"{res['max_rss_mib']:.0f} MiB, load {load:.2f}", flush=True)
                write_json(stem.with_suffix(".json"), {**meta, "summary": summarise(runs), "runs": runs})
                stem.with_suffix(".md").write_text(markdown(summarise(runs), meta))
    return runs
