"""The markdown table (mean ± std over seeds) and the kNN-per-epoch plot of `python -m benchmarks.accuracy`."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from benchmarks.lib.curves import mean_std, plot


def _cell(values: list[Any]) -> str:
    vals = [v for v in values if v is not None]
    return mean_std(vals) if vals else "-"


def row_order(records: list[dict[str, Any]], preferred: list[str]) -> list[str]:
    """Methods in `preferred` order, then any other method found in `records`."""
    found = {r["method"] for r in records}
    return [m for m in dict.fromkeys([*preferred, *(r["method"] for r in records)]) if m in found]


def run_wall_s(r: dict[str, Any]) -> float:
    """A row's wall time over all its processes: `wall_s` is the last process's, so a run resumed from a checkpoint
    counts its earlier epochs (`train_s`, the sum of every epoch's time) and its evaluation instead."""
    if not r.get("resumed_at_epoch"):
        return float(r["wall_s"])
    return max(float(r["wall_s"]), r["train_s"] + r.get("eval_probe_knn_s", 0.0) + r.get("eval_finetune_s", 0.0))


def summarise(records: list[dict[str, Any]], rows: list[str]) -> list[dict[str, Any]]:
    out = []
    for method in rows:
        rs = sorted((r for r in records if r["method"] == method), key=lambda r: r["seed"])
        if not rs:
            continue
        out.append({
            "method": method, "backbone": rs[0]["backbone"], "seeds": [r["seed"] for r in rs],
            "epochs": rs[0]["epochs"], "train_samples": rs[0]["train_samples"],
            "linear": _cell([r["linear_top1"] for r in rs]), "knn": _cell([r["knn_top1"] for r in rs]),
            "finetune10": _cell([r["finetune10_top1"] for r in rs]),
            "linear_mean": statistics.mean(r["linear_top1"] for r in rs),
            "knn_mean": statistics.mean(r["knn_top1"] for r in rs),
            "wall_min": statistics.mean(run_wall_s(r) for r in rs) / 60,
            "epoch_s": statistics.median(s for r in rs for s in r.get("epoch_s") or [0.0]) or None,
            "images_per_s": statistics.mean(r.get("train_images_per_s") or 0.0 for r in rs) or None,
            "load": statistics.mean(r["load_avg_mean"] for r in rs) if all("load_avg_mean" in r for r in rs) else None,
            "command": rs[0]["command"],
            "notes": list(dict.fromkeys(r["note"] for r in rs if r.get("note"))),
        })
    return out


def variant(cfg: dict[str, Any]) -> str:
    """What a bisect run changed in the recipe (`--crop-scale`, `--set`), as a sentence; empty for the default."""
    parts = []
    if cfg.get("crop_scale"):
        parts.append("crop area range {:g}-{:g} instead of 0.2-1".format(*cfg["crop_scale"]))
    parts += [f"{k} = {v}" for k, v in (cfg.get("set") or {}).items()]
    return f" Recipe changed for every row: {', '.join(parts)}." if parts else ""


def markdown(summary: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    env, cfg = meta["environment"], meta["config"]
    lines = [
        "# Fashion-MNIST at a real budget: every method, its random twin, supervised and ImageNet weights", "",
        f"Written by `{env['command']}`. Data: the seeded 54,000 / 6,000 train / val carve of the training split "
        f"(data seed 0) unless a row says fewer training images; scores on the {cfg.get('test_samples', 10000)}-image "
        "test split. Every SSL row trains the method's published recipe, `configs/<method>_fashion_mnist.yaml`, through "
        f"`vision-ssl fit` (`tiny` width {cfg['width']} except the ViTs, batch {cfg['batch_size']}, AdamW, warm-up "
        "then cosine; rows measured before issue 26 used the same recipe from tests/helpers.py, which gave BYOL "
        "SimCLR's views where its config has its own); `random:<method>` is that method's network at the same seed with no training (the weights the "
        "trained run started from); `efficientnet_lite0_imagenet` is frozen ImageNet-1k EfficientNet-Lite0 at "
        f"{cfg['imagenet_size']} px.{variant(cfg)}", "",
        f"Protocol: linear probe {cfg['probe_epochs']} epochs on frozen, un-augmented features (lr from "
        "{1e-3, 3e-3, 1e-2} chosen on val), kNN k = 200, T = 0.07 against the whole train split, and top-1 after "
        f"fine-tuning the whole network for {cfg['finetune_epochs']} epochs on a per-class seeded 10 % of the "
        "training labels (`vision_ssl.eval.finetune`; backbone lr 0.1x or 1x the head's 1e-2, chosen on val where "
        "the record has `finetune10_backbone_lr_scale`, else 0.1x: benchmarks/results/finetune_lr_scale.md). Mean ± "
        "std over seeds (one seed: the value). Load: the machine's 1-minute load average sampled every 30 s while "
        "the row ran, mean over seeds (2 cores: above 2, rows shared the CPU and their times are longer). A run resumed "
        "from its checkpoint counts the epochs of its earlier processes in its wall time (and its load is the last "
        "process's).", "",
        f"Machine: {env['cpu']}, {env['cpu_cores']} cores (shared), torch threads {env['torch_threads']}. "
        f"Versions: {', '.join(f'{k} {v}' for k, v in env['versions'].items() if v)}.", "",
        "| method | backbone | seeds | epochs | train images | linear top-1 (%) | kNN top-1 (%) | 10 %-label "
        "fine-tune top-1 (%) | s / epoch | train images / s | wall min / run | load while it ran |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in summary:
        per_epoch = f"{s['epoch_s']:.0f}" if s["epoch_s"] else "-"
        rate = f"{s['images_per_s']:.0f}" if s.get("images_per_s") else "-"
        load = f"{s['load']:.1f}" if s.get("load") is not None else "-"
        lines.append(f"| {s['method']} | {s['backbone']} | {len(s['seeds'])} | {s['epochs']} | {s['train_samples']} | "
                     f"{s['linear']} | {s['knn']} | {s['finetune10']} | {per_epoch} | {rate} | {s['wall_min']:.1f} | "
                     f"{load} |")
    lines += ["", "Reproduce one row (per seed):", ""]
    lines += [f"- {s['method']}: `{s['command']}`" for s in summary]
    notes = [f"- {s['method']}: {n}" for s in summary for n in s.get("notes", [])]
    lines += ["", "Notes on single records:", "", *notes] if notes else []
    return "\n".join(lines) + "\n"


def write_plot(records: list[dict[str, Any]], rows: list[str], path: Path, title: str) -> None:
    """kNN val top-1 per epoch (mean over seeds) of every row; rows without training are horizontal lines."""
    plot([{"method": r["method"], "curve": r.get("curve") or []} for r in records], rows, path, title)
