"""Training and data-pipeline throughput of every image method, and SimCLR side by side with LightlySSL in the
same process on the same machine. Ratios (ours / peer) are what to quote: absolute rates drift on shared machines.

    make bench-quick                                     # CPU, < 5 min: benchmarks/results/throughput_cpu.{json,md}
    python -m benchmarks.speed train --device cuda --backbone resnet18 --cifar-stem --batch-size 512 \
        --bf16 --channels-last --compile --workers 8 --epoch-images 50000 --tag gpu   # the GPU epoch benchmark

Records (`name`, `ours_img_per_s`, `peer`, `peer_img_per_s`, `ratio`, ...):
- `data/simclr_views`: our uint8 loader + batched kornia `SimCLRViews` (2 views, on the device) vs lightly's
  `SimCLRTransform` per sample in a DataLoader with the same number of workers.
- `step/simclr`: one training step on ready views: our `SimCLR.ssl_step` vs backbone + lightly
  `SimCLRProjectionHead` + `NTXentLoss` (same backbone weights, batch, optimizer).
- `e2e/simclr`: loader + views + step, ours vs lightly (the epoch time a user sees).
- `option/<name>`: our step with channels_last / bf16 autocast / torch.compile vs the same step without it.
- `method/<name>`: each registered image method trained by Lightning (augmentation, online probe and logging
  included), its data pipeline alone (loader + `make_views`) and peak memory; no peer.
Every rate is the median of timed windows after a warm-up; ours and the peer alternate windows.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import time
from dataclasses import replace
from typing import Any

import torch
from torch.utils.data import DataLoader

from benchmarks.lib.env import RESULTS, environment, write_json
from benchmarks.lib.method_speed import method_records
from benchmarks.lib.parity_lightly import PILDataset, SimCLRRef, require_lightly, two_view_transform
from benchmarks.lib.parity_recipes import RECIPES
from benchmarks.lib.timing import fresh_iterator_windows, interleaved, median, record
from benchmarks.lib.torchvision_peer import DESCRIPTION, TorchvisionSimCLR, TwoViews
from vision_ssl.data import FashionMNISTDataModule
from vision_ssl.data.base import TensorImageDataset
from vision_ssl.methods import SimCLR
from vision_ssl.methods.step import Views
from vision_ssl.registry import IMAGE_METHODS
from vision_ssl.transforms import IMAGENET_MEAN, IMAGENET_STD


def load_images(n: int, size: int, root: str) -> torch.Tensor:
    """n Fashion-MNIST training images as uint8 RGB (n, 3, size, size); random pixels when the files are missing."""
    try:
        dm = FashionMNISTDataModule(root=root, image_size=size, channels=3, max_train_samples=n, num_workers=0)
        dm.setup("fit")
        idx = torch.tensor(dm.train_set.indices)
        return dm.train_set.dataset.images[idx].expand(-1, 3, -1, -1).contiguous()
    except FileNotFoundError:
        return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8)


class Ours:
    """Our SimCLR model, optimizer and step, with the speed options applied."""

    def __init__(self, args: argparse.Namespace, bf16: bool = False, channels_last: bool = False, compile: bool = False):
        self.device, self.bf16 = torch.device(args.device), bf16
        self.fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.model = SimCLR(backbone=args.backbone, backbone_kwargs=args.backbone_kwargs, cifar_stem=args.cifar_stem,
                            image_size=args.image_size, proj_hidden_dim=args.proj_hidden_dim, proj_output_dim=128,
                            temperature=0.2, gather_distributed=False).to(self.device, memory_format=self.fmt)
        params = [*self.model.backbone.parameters(), *self.model.projector.parameters()]
        self.opt = torch.optim.AdamW(params, lr=1e-3)
        self.plain_backbone = self.model.backbone  # the peer copies this one, never the compiled wrapper
        self.no_labels = torch.full((args.batch_size,), -1, device=self.device)  # SimCLR's step ignores labels
        if compile:
            self.model.backbone = torch.compile(self.model.backbone, backend=args.compile_backend)

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def views(self, images: torch.Tensor) -> list[torch.Tensor]:
        images = images.to(self.device, non_blocking=True)
        return [v.contiguous(memory_format=self.fmt) for v in self.model.make_views(images).images]

    def step(self, x1: torch.Tensor, x2: torch.Tensor) -> None:
        with self.autocast():
            loss = self.model.ssl_step(Views([x1, x2]), self.no_labels[: x1.shape[0]]).loss
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()


def peer_recipe(args: argparse.Namespace) -> Any:
    """The parity benchmark's SimCLR recipe with this benchmark's widths and our `SimCLR` defaults (crop
    (0.08, 1), jitter 0.5 with p 0.8, grayscale 0.2, no blur, ImageNet normalisation, temperature 0.2)."""
    return replace(RECIPES["simclr"], hidden=args.proj_hidden_dim, out=128, temperature=0.2,
                   image_size=args.image_size, crop_scale=(0.08, 1.0), mean=IMAGENET_MEAN, std=IMAGENET_STD)


def lightly_peer(args: argparse.Namespace) -> bool:
    """`--peer`: lightly (required), torchvision (never) or auto (lightly where it is installed)."""
    if args.peer == "torchvision":
        return False
    try:
        require_lightly()
    except ImportError:
        if args.peer == "lightly":
            raise
        return False
    return True


def peer_model(args: argparse.Namespace, ours: Ours) -> tuple[Any, torch.optim.Optimizer, Any]:
    """The parity benchmark's LightlySSL SimCLR (`SimCLRRef`: backbone + `SimCLRProjectionHead` + `NTXentLoss`)
    on a copy of our backbone; without lightly, the same layers and loss from `torchvision_peer`."""
    cls = SimCLRRef if lightly_peer(args) else TorchvisionSimCLR
    model = cls(copy.deepcopy(ours.plain_backbone), peer_recipe(args)).to(ours.device, memory_format=ours.fmt)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    autocast = torch.autocast(ours.device.type, dtype=torch.bfloat16, enabled=ours.bf16)
    return model, opt, autocast


def peer_step(model: Any, opt: torch.optim.Optimizer, x0: torch.Tensor, x1: torch.Tensor, autocast: Any) -> None:
    """One step of the parity loop's body (lightly's example): z0 = head(backbone(x0)), z1 likewise, NT-Xent."""
    with autocast:
        loss = model.loss(x0, x1)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def loaders(args: argparse.Namespace, images: torch.Tensor) -> tuple[Any, Any]:
    kw = dict(batch_size=args.batch_size, shuffle=True, drop_last=True, num_workers=args.workers,
              pin_memory=torch.device(args.device).type == "cuda")
    ours = lambda: DataLoader(TensorImageDataset(images, torch.zeros(len(images)), 3), **kw)  # noqa: E731
    transform = (two_view_transform if lightly_peer(args) else TwoViews)(peer_recipe(args))
    peer = lambda: DataLoader(PILDataset(images, transform), **kw)  # noqa: E731
    return ours, peer


def side_by_side(args: argparse.Namespace, images: torch.Tensor) -> list[dict]:
    out = []
    opts = dict(bf16=args.bf16, channels_last=args.channels_last, compile=args.compile)
    ours = Ours(args, **opts)
    peer, peer_opt, peer_autocast = peer_model(args, ours)
    ours_loader, peer_loader = loaders(args, images)
    w, win, per = args.warmup, args.windows, args.steps
    dev = ours.device
    desc = f"lightly {require_lightly().__version__}" if lightly_peer(args) else DESCRIPTION

    def consume_ours(batch: Any) -> int:
        with torch.no_grad():
            ours.views(batch[0])
        return batch[0].shape[0]

    def consume_peer(batch: Any) -> int:
        batch[0][0].to(dev, non_blocking=True), batch[0][1].to(dev, non_blocking=True)
        return batch[0][0].shape[0]

    if "data" in args.sections:
        r = fresh_iterator_windows({"ours": ours_loader, "peer": peer_loader}, {"ours": consume_ours, "peer": consume_peer},
                                   w, win, per, dev)
        out.append(record("data/simclr_views", r["ours"], f"{desc} SimCLRTransform, {args.workers} workers", r["peer"]))
    if "step" in args.sections:
        x1, x2 = ours.views(images[: args.batch_size])
        start = time.perf_counter()
        ours.step(x1, x2)  # first call: compiles when --compile
        first = time.perf_counter() - start
        def step_ours() -> int:
            ours.step(x1, x2)
            return x1.shape[0]

        def step_peer() -> int:
            peer_step(peer, peer_opt, x1, x2, peer_autocast)
            return x1.shape[0]

        r = interleaved({"ours": step_ours, "peer": step_peer}, w, win, per, dev)
        out.append(record("step/simclr", r["ours"], f"{desc} SimCLRProjectionHead + NTXentLoss", r["peer"],
                          first_step_seconds=first))
    if "e2e" in args.sections:
        def e2e_ours(batch: Any) -> int:
            ours.step(*ours.views(batch[0]))
            return batch[0].shape[0]

        def e2e_peer(batch: Any) -> int:
            x0, x1 = (v.to(dev, non_blocking=True).contiguous(memory_format=ours.fmt) for v in batch[0])
            peer_step(peer, peer_opt, x0, x1, peer_autocast)
            return x0.shape[0]

        r = fresh_iterator_windows({"ours": ours_loader, "peer": peer_loader}, {"ours": e2e_ours, "peer": e2e_peer},
                                   w, win, per, dev)
        extra = {}
        if args.epoch_images:
            extra = {"ours_epoch_seconds": args.epoch_images / median(r["ours"]),
                     "peer_epoch_seconds": args.epoch_images / median(r["peer"]), "epoch_images": args.epoch_images}
        out.append(record("e2e/simclr", r["ours"], f"{desc} loader + SimCLRTransform + step" if desc != DESCRIPTION else f"{desc}; loader + views + step", r["peer"], **extra))
    return out


def option_records(args: argparse.Namespace, images: torch.Tensor, runs: dict[str, dict] | None = None) -> list[dict]:
    """Our SimCLR step with each of `runs` (name: `Ours` options; default each option alone), against the same step
    with every option off."""
    out = []
    base = Ours(args)
    x1, x2 = base.views(images[: args.batch_size])
    options = runs or {"channels_last": dict(channels_last=True), "bf16_autocast": dict(bf16=True)}
    if args.try_compile and runs is None:
        options["torch_compile"] = dict(compile=True)
    for name, kw in options.items():
        if args.options and name not in args.options:
            continue
        other = Ours(args, **kw)
        y1, y2 = (x.contiguous(memory_format=other.fmt) for x in (x1, x2))
        start = time.perf_counter()
        other.step(y1, y2)
        first = time.perf_counter() - start
        r = interleaved({"ours": lambda: other.step(y1, y2) or y1.shape[0], "peer": lambda: base.step(x1, x2) or x1.shape[0]},  # noqa: B023
                        args.warmup, args.windows, args.steps, base.device)
        out.append(record(f"option/{name}", r["ours"], "same step, option off", r["peer"], first_step_seconds=first))
    return out


def markdown(records: list[dict], meta: dict) -> str:
    env, cfg = meta["environment"], meta["config"]
    lines = [f"# Throughput `{cfg['tag']}`", "", f"Command: `{env['command']}`", "",
             f"Device: {env['gpu'] or 'CPU only (no GPU in this session)'}; CPU {env['cpu']}, {env['cpu_cores']} cores, "
             f"torch threads {env['torch_threads']}, load average {env['load_avg_1min']} at start (shared machine). "
             f"Versions: {', '.join(f'{k} {v}' for k, v in env['versions'].items() if v)}.", "",
             f"Backbone {cfg['backbone']} {cfg['backbone_kwargs'] or ''}{' CIFAR stem' if cfg['cifar_stem'] else ''}, "
             f"batch {cfg['batch_size']}, {cfg['image_size']}x{cfg['image_size']} RGB, {cfg['workers']} loader workers, "
             f"options: bf16={cfg['bf16']} channels_last={cfg['channels_last']} compile={cfg['compile']}; "
             f"median of {cfg['windows']} windows of {cfg['steps']} steps after {cfg['warmup']} warm-up steps.", "",
             "| name | ours images/s | peer | peer images/s | ratio ours/peer | notes |", "| --- | --- | --- | --- | --- | --- |"]
    for r in records:
        notes = []
        for key, fmt in (("data_img_per_s", "data pipeline {:.0f} img/s"), ("peak_memory_mib", "peak mem {:.0f} MiB"),
                         ("first_step_seconds", "first step {:.1f} s"), ("ours_epoch_seconds", "ours {:.1f} s/epoch"),
                         ("peer_epoch_seconds", "peer {:.1f} s/epoch")):
            if r.get(key) is not None:
                notes.append(fmt.format(r[key]))
        peer = f"{r['peer_img_per_s']:.0f}" if r["peer_img_per_s"] else "-"
        ratio = f"**{r['ratio']:.2f}**" if r["ratio"] else "-"
        lines.append(f"| {r['name']} | {r['ours_img_per_s']:.0f} | {r['peer'] or '-'} | {peer} | {ratio} | {'; '.join(notes)} |")
    env_notes = [*meta.get("appended_to", {}).get("config", {}).get("note", []), *cfg.get("note", [])]
    if meta.get("appended_to"):
        lines += ["", f"Rows above `method/*` come from `{meta['appended_to']['environment']['command']}`; the "
                  "`method/*` rows were appended by the command at the top."]
    if env["gpu"] is None:
        env_notes.append("CPU peak memory is the peak RSS above the RSS at the start of each method's run, in one "
                         "process that ran the earlier rows first: memory the allocator kept from them is reused and "
                         "not counted, so small values understate a method's footprint.")
    lines += [""] + [f"- {n}" for n in env_notes]
    return "\n".join(lines) + "\n"


def settings(argv: list[str] | None = None) -> argparse.Namespace:
    """The options of `python -m benchmarks.speed train` (the GPU check builds its runs from them)."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed train", description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--backbone", default="tiny")
    p.add_argument("--width", type=int, default=16, help="width of the tiny backbone")
    p.add_argument("--cifar-stem", action="store_true", help="ResNet 3x3 stem without max-pool (32x32 images)")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--proj-hidden-dim", type=int, default=512)
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers, the same for ours and the peer")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast in the side-by-side and method runs")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile our backbone in the side-by-side runs")
    p.add_argument("--compile-backend", default="inductor", help="torch.compile backend (eager: checks code only)")
    p.add_argument("--peer", default="lightly", choices=["auto", "lightly", "torchvision"],
                   help="SimCLR peer: lightly's (parity_lightly), its torchvision rebuild, or lightly where installed")
    p.add_argument("--try-compile", action="store_true", help="add option/torch_compile (slow to compile on CPU)")
    p.add_argument("--options", nargs="+", default=None, help="only these option/* rows (default: all)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps before the windows")
    p.add_argument("--windows", type=int, default=3)
    p.add_argument("--steps", type=int, default=3, help="steps per timed window")
    p.add_argument("--epoch-images", type=int, default=0, help="also report seconds per epoch of this many images")
    p.add_argument("--sections", nargs="+", default=["data", "step", "e2e", "options", "methods"])
    p.add_argument("--methods", nargs="+", default=list(IMAGE_METHODS))
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--root", default="data")
    p.add_argument("--tag", default="cpu")
    p.add_argument("--append", action="store_true", help="add the rows to this tag's existing results")
    p.add_argument("--note", action="append", default=[], help="a line added under the table (e.g. what was not run)")
    args = p.parse_args(argv)
    args.backbone_kwargs = {"width": args.width} if args.backbone == "tiny" else {}
    return args


def main(argv: list[str] | None = None) -> None:
    args = settings(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no GPU visible; nothing measured")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.peer == "lightly":
        require_lightly()
    torch.manual_seed(0)
    images = load_images(max(args.batch_size * (args.warmup + args.steps + 2), args.epoch_images or 0), args.image_size, args.root)
    meta = {"environment": environment(), "config": {k: v for k, v in vars(args).items()}}
    start, records = time.perf_counter(), []
    stem = RESULTS / f"throughput_{args.tag}"
    if args.append and stem.with_suffix(".json").exists():  # add rows to an earlier run of this tag (same settings)
        records = json.loads(stem.with_suffix(".json").read_text())
        meta["appended_to"] = json.loads((stem.parent / f"{stem.name}_env.json").read_text())

    def save(new: list[dict]) -> None:
        meta["wall_seconds"] = time.perf_counter() - start
        write_json(stem.with_suffix(".json"), records + new)  # the list of records; machine and command beside it
        write_json(stem.parent / f"{stem.name}_env.json", meta)
        stem.with_suffix(".md").write_text(markdown(records + new, meta))

    for section, fn in (("side", lambda: side_by_side(args, images)), ("options", lambda: option_records(args, images)),
                        ("methods", lambda: method_records(args, save))):
        if section == "side" and not {"data", "step", "e2e"} & set(args.sections) or section != "side" and section not in args.sections:
            continue
        records += fn()
        save([])
        print(f"{section} done at {meta['wall_seconds']:.0f}s", flush=True)
    print(stem.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
