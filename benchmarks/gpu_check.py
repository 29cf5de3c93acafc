"""The GPU check of issue 13, run by `bash benchmarks/gpu_check.sh` (which brings kornia and the data when the
machine lacks them): one command, at most 8 minutes on one H100/H200, no network. Writes
`benchmarks/results/gpu_<device>.{json,md}`: device, versions, commands, and

- sync: the training step under `torch.cuda.set_sync_debug_mode` (lib/gpu_train.py);
- (a) SimCLR ResNet-18 (CIFAR stem) 32x32, seconds per 50,000-image epoch, ours vs LightlySSL's per-sample
  transforms in 16 loader workers, same backbone: `python -m benchmarks.speed train`'s `e2e/simclr` record
  (lib/throughput.py `side_by_side`), the peer lightly's own or its torchvision rebuild (`--peer`);
- (b) images/s and peak memory of every registered image method: `speed train`'s `method/*` records
  (lib/method_speed.py `method_records`), one method at a time so one failure does not hide the others;
- (d) a short ResNet-18 SimCLR pretrain on Fashion-MNIST and its kNN top-1 (lib/gpu_train.py);
- (c) bf16, channels_last and torch.compile, each on and off: `speed train`'s `option/*` records
  (lib/throughput.py `option_records`) with the check's runs, each against all off.

(a)-(c) are `speed train` with GPU settings (`speed_args`); nothing here times a step itself.

Sections run in that order under one time budget (`--budget-s`); a section that fails or would start past the
budget is recorded as such and the others still run. `--smoke` runs the same code on a CPU with a tiny backbone,
a few images of fake Fashion-MNIST files and 1-2 steps (the test suite runs it).
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from benchmarks.lib.env import RESULTS, environment, write_json
from benchmarks.lib.gpu_report import markdown
from benchmarks.lib.gpu_train import host_sync, pretrain_knn
from benchmarks.lib.method_speed import method_records
from benchmarks.lib.throughput import load_images, option_records, settings, side_by_side
from vision_ssl.registry import IMAGE_METHODS, METHODS, VIDEO_METHODS


@dataclass(frozen=True)
class Sizes:
    """Everything that differs between the full check and `--smoke`."""

    device: str = "cuda"
    accelerator: str = "gpu"
    backbone: str = "resnet18"
    backbone_kwargs: dict = field(default_factory=dict)
    cifar_stem: bool = True
    image_size: int = 32
    batch_size: int = 512
    epoch_images: int = 50_000
    peer_workers: int = 16
    compile_backend: str = "inductor"
    epoch_warmup: int = 15  # (a): batches before the timed windows (compilation happens here)
    epoch_windows: int = 3
    epoch_steps: int = 20
    option_warmup: int = 15  # (c): steps before the timed windows (compilation happens here)
    option_windows: int = 3
    option_steps: int = 15
    method_batch_size: int = 256
    method_warmup: int = 5
    method_windows: int = 3
    method_steps: int = 10
    sync_first: int = 3
    sync_steps: int = 3
    pretrain_epochs: int = 8
    pretrain_extra: tuple = ("--trainer.devices", "1")
    peer: str = "auto"  # (a)'s peer: lightly where installed, else the same per-sample pipeline in torchvision


SMOKE = Sizes(
    device="cpu", accelerator="cpu", backbone="tiny", backbone_kwargs={"width": 4}, cifar_stem=False, image_size=16,
    batch_size=4, epoch_images=8, peer_workers=1, compile_backend="eager", epoch_warmup=1, epoch_windows=1,
    epoch_steps=1, option_warmup=1, option_windows=1, option_steps=1,
    method_batch_size=4, method_warmup=1, method_windows=1, method_steps=1, sync_first=1, sync_steps=1,
    pretrain_epochs=1,
    pretrain_extra=("--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.max_steps", "2",
                    "--model.init_args.backbone", "tiny", "--model.init_args.backbone_kwargs", "{width: 4}",
                    "--model.init_args.cifar_stem", "false", "--model.init_args.proj_hidden_dim", "16",
                    "--model.init_args.proj_output_dim", "8", "--data.init_args.image_size", "16",
                    "--data.init_args.max_train_samples", "8", "--data.init_args.batch_size", "4",
                    "--data.init_args.num_workers", "0", "--monitor.bank_size", "8"),
)


def write_fake_fashion_mnist(root: Path, train: int = 32, test: int = 16) -> None:
    """Random images in Fashion-MNIST's IDX files (`root/FashionMNIST/raw`): the real data module's code path."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    for prefix, n in (("train", train), ("t10k", test)):
        images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=g)
        labels = (torch.arange(n) % 10).to(torch.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            b"\x00\x00\x08\x03" + b"".join(d.to_bytes(4, "big") for d in (n, 28, 28)) + images.numpy().tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(
            b"\x00\x00\x08\x01" + n.to_bytes(4, "big") + labels.numpy().tobytes())


def device_slug() -> str:
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


OPTIONS = {"bf16": "--bf16", "channels_last": "--channels-last", "compile": "--compile"}
OPTION_RUNS = {"all on": dict(bf16=True, channels_last=True, compile=True), "bf16 off": dict(channels_last=True, compile=True),
               "channels_last off": dict(bf16=True, compile=True), "compile off": dict(bf16=True, channels_last=True),
               "all off": {}}


def speed_args(sz: Sizes, root: str, warmup: int, windows: int, steps: int, *extra: str) -> argparse.Namespace:
    """`python -m benchmarks.speed train`'s options at this check's sizes (`extra`: further flags)."""
    return settings(["--device", sz.device, "--backbone", sz.backbone, "--width", str(sz.backbone_kwargs.get("width", 16)),
                     "--image-size", str(sz.image_size), "--root", root, "--compile-backend", sz.compile_backend,
                     "--peer", sz.peer, "--proj-hidden-dim", "2048", "--warmup", str(warmup), "--windows", str(windows),
                     "--steps", str(steps), *(["--cifar-stem"] if sz.cifar_stem else []), *extra])


def label(opts: dict) -> str:
    return ", ".join(f"{k} {'on' if opts.get(k) else 'off'}" for k in OPTIONS)


def epoch(sz: Sizes, root: str, images: torch.Tensor) -> dict:
    """(a): `speed train`'s e2e/simclr, every option on, its epoch seconds from the median steady rate."""
    args = speed_args(sz, root, sz.epoch_warmup, sz.epoch_windows, sz.epoch_steps, *OPTIONS.values(), "--sections",
                      "e2e", "--batch-size", str(sz.batch_size), "--workers", str(sz.peer_workers),
                      "--epoch-images", str(sz.epoch_images))
    r = side_by_side(args, images)[0]
    return {"options": label(OPTION_RUNS["all on"]), "epoch_images": sz.epoch_images, "batch_size": sz.batch_size,
            "peer_workers": sz.peer_workers, "peer": r["peer"], "ours_img_per_s": r["ours_img_per_s"],
            "peer_img_per_s": r["peer_img_per_s"], "ours_epoch_seconds": r["ours_epoch_seconds"],
            "peer_epoch_seconds": r["peer_epoch_seconds"], "speedup": r["ratio"]}


def methods(sz: Sizes, root: str, deadline: float) -> dict:
    """(b): `speed train`'s method/<name> record of every image method, bf16, one at a time."""
    notes = [f"{m}: video method, not an image-throughput row" for m in METHODS if m in VIDEO_METHODS]
    rows: list[dict] = []
    for name in IMAGE_METHODS:
        if time.monotonic() > deadline:
            notes.append(f"{name}: skipped, the check's time budget was spent")
            continue
        args = speed_args(sz, root, sz.method_warmup, sz.method_windows, sz.method_steps, "--bf16", "--workers", "0",
                          "--batch-size", str(sz.method_batch_size), "--methods", name)
        try:
            r = method_records(args)[0]
            rows.append({"name": name, "backbone": r["backbone"], "img_per_s": r["ours_img_per_s"],
                         "data_img_per_s": r["data_img_per_s"], "peak_memory_mib": r["peak_memory_mib"],
                         "batch_size": sz.method_batch_size, "options": "bf16 on"})
        except Exception as err:  # noqa: BLE001  (one method's failure is a result, not the end of the check)
            rows.append({"name": name, "error": f"{type(err).__name__}: {str(err)[:300]}"})
    return {"rows": rows, "notes": notes}


def options(sz: Sizes, root: str, images: torch.Tensor, deadline: float) -> list[dict]:
    """(c): `speed train`'s option records for every option on, each off alone and all off, against all off."""
    args = speed_args(sz, root, sz.option_warmup, sz.option_windows, sz.option_steps, "--batch-size", str(sz.batch_size))
    rows = []
    for name, opts in OPTION_RUNS.items():
        if time.monotonic() > deadline:
            rows.append({"run": name, "options": label(opts), "skipped": "the check's time budget was spent"})
            continue
        r = option_records(args, images, runs={name: opts})[0]
        rows.append({"run": name, "options": label(opts), "img_per_s": r["ours_img_per_s"], "vs_all_off": r["ratio"],
                     "first_step_seconds": r["first_step_seconds"]})
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU, fake data: checks the code runs")
    p.add_argument("--root", default="data", help="data root holding FashionMNIST/raw (ignored with --smoke)")
    p.add_argument("--out", default=str(RESULTS), help="folder for gpu_<device>.{json,md}")
    p.add_argument("--work", default=None, help="folder for the pretrain's checkpoints and logs (default: a temp dir)")
    p.add_argument("--budget-s", type=float, default=420.0, help="no section starts after this many seconds")
    p.add_argument("--peer", default="auto", choices=["auto", "lightly", "torchvision"],
                   help="(a)'s per-sample peer: lightly's own classes, or torchvision.transforms.v2 built the same way")
    p.add_argument("--setup", default=os.environ.get("GPU_CHECK_SETUP", ""), help="what the shell script installed")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work or tempfile.mkdtemp(prefix="gpu_check_"))
    if args.smoke:
        sz, root = SMOKE, str(work / "smoke_data")
        write_fake_fashion_mnist(Path(root))
    else:
        if not torch.cuda.is_available():
            raise SystemExit("gpu_check: no CUDA device visible; use --smoke on a CPU (nothing measured)")
        sz, root = Sizes(), args.root
        torch.backends.cudnn.benchmark = True
    sz = replace(sz, peer=args.peer)
    start = time.monotonic()
    deadline = start + args.budget_s
    stem = out / (f"gpu_{device_slug()}" + ("_smoke" if args.smoke else ""))
    report: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "smoke": args.smoke,
        "environment": environment(), "setup": args.setup, "data_root": root, "work": str(work), "sizes": asdict(sz),
        "commands": [os.environ.get("GPU_CHECK_COMMAND") or " ".join(["python", *sys.argv])], "sections": {},
    }
    images = load_images(max(sz.epoch_images, sz.batch_size * (sz.option_warmup + sz.option_steps + 2)),
                         sz.image_size, root)

    def section(name: str, fn: Callable[[], Any]) -> None:
        if time.monotonic() > deadline:
            report["sections"][name] = {"skipped": f"the time budget of {args.budget_s:.0f} s was spent"}
        else:
            t0 = time.monotonic()
            try:
                report["sections"][name] = {"result": fn()}
            except Exception as err:  # noqa: BLE001  (a failed section is a result; the others still run)
                report["sections"][name] = {"error": f"{type(err).__name__}: {str(err)[:500]}",
                                            "traceback": traceback.format_exc()[-3000:]}
            report["sections"][name]["seconds"] = time.monotonic() - t0
        report["wall_seconds"] = time.monotonic() - start
        write_json(stem.with_suffix(".json"), report)
        stem.with_suffix(".md").write_text(markdown(report))
        print(f"gpu_check: {name} done at {report['wall_seconds']:.0f} s", flush=True)

    section("sync", lambda: host_sync(sz, root))
    section("a_epoch", lambda: epoch(sz, root, images))
    section("b_methods", lambda: methods(sz, root, deadline))
    section("d_pretrain_knn", lambda: pretrain_knn(sz, root, work))
    section("c_options", lambda: options(sz, root, images, deadline))
    if "d_pretrain_knn" in report["sections"] and "result" in report["sections"]["d_pretrain_knn"]:
        report["commands"].append(report["sections"]["d_pretrain_knn"]["result"]["command"])
        write_json(stem.with_suffix(".json"), report)
        stem.with_suffix(".md").write_text(markdown(report))
    print(stem.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
