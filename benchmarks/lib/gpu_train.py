"""Sections of benchmarks/gpu_check.py that train through the public surface:

- (b) images/s and peak memory of every registered image method, its published recipe
  (configs/<method>_fashion_mnist.yaml) on this check's backbone unless the recipe names its own ViT:
  `Trainer.fit` with augmentation, online probe and logging, timed over a window of steps; peak memory by
  benchmarks/lib/timing.py's `PeakMemory` (`torch.cuda.max_memory_allocated` on a GPU). One method at a time, so
  one failure does not hide the others. (`python -m benchmarks.speed train` also times each method's data pipeline
  through `make_views`, a method internal; this check keeps to `Trainer.fit`.)
- (d) a short SimCLR ResNet-18 pretrain on Fashion-MNIST with `vision_ssl.cli.main(["fit", ...])` and the
  reference config, then the kNN top-1 of its `last.ckpt` (`vision_ssl.eval.knn.knn_eval`) beside its
  random-weights twin;
- the host-sync check: a few SimCLR training steps (batch fetch, transfer, view augmentation, step, optimizer
  and callbacks, the CLI's `ValidationMonitor` bank update included) under `torch.cuda.set_sync_debug_mode`,
  once in "warn" mode to list every syncing line and once in "error" mode to confirm; a sync is reported, never
  fatal. The steps are chosen off the methods' periodic non-finite check (`finite_check_every`, one read per
  50 steps by design).
"""

from __future__ import annotations

import json
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch

from benchmarks.lib.gpu_epoch import Clock, Options, data_module, our_simclr, trainer
from benchmarks.lib.method_speed import speed_model
from benchmarks.lib.timing import PeakMemory
from vision_ssl.cli import main as cli_main
from vision_ssl.eval import load_run, random_twin
from vision_ssl.eval.knn import knn_eval
from vision_ssl.eval.monitor import ValidationMonitor
from vision_ssl.registry import IMAGE_METHODS, METHODS, VIDEO_METHODS

REPO = Path(__file__).resolve().parents[2]


def method_rows(sz: Any, root: str, deadline: float) -> tuple[list[dict], list[str]]:
    """(b): one `method_records` row per registered image method that has a recipe; notes for the others."""
    notes = [f"{m}: video method, not an image-throughput row" for m in METHODS if m in VIDEO_METHODS]
    rows = []
    steps = sz.method_warmup + sz.method_steps
    dm = data_module(sz, root, sz.method_batch_size * (steps + 1), sz.method_batch_size)
    for name in IMAGE_METHODS:
        if time.monotonic() > deadline:
            notes.append(f"{name}: skipped, the check's time budget was spent")
            continue
        try:
            L.seed_everything(0, verbose=False)
            model = speed_model(name, sz.image_size, root, sz.backbone, dict(sz.backbone_kwargs), sz.cifar_stem)
            clock = Clock(window=(sz.method_warmup, steps))
            with PeakMemory(sz.device) as mem:
                trainer(sz, Options(compile=False), clock, max_steps=steps).fit(model, datamodule=dm)
            rows.append({"name": name, "backbone": model.hparams.get("backbone"), "img_per_s": clock.rate(),
                         "peak_memory_mib": mem.mib, "batch_size": sz.method_batch_size,
                         "options": Options(compile=False).label()})
        except Exception as err:  # noqa: BLE001  (one method's failure is a result, not the end of the check)
            rows.append({"name": name, "error": f"{type(err).__name__}: {str(err)[:300]}"})
    return rows, notes


def pretrain_knn(sz: Any, root: str, out: Path) -> dict:
    """(d): the reference config for `sz.pretrain_epochs` epochs (1 warm-up epoch), then kNN top-1 on val and test."""
    config = REPO / "configs" / "simclr_fashion_mnist.yaml"  # the published recipe, on this check's backbone
    args = ["fit", "--config", str(config), "--data.init_args.root", root,
            "--model.init_args.backbone", sz.backbone, "--model.init_args.backbone_kwargs", json.dumps(dict(sz.backbone_kwargs)),
            "--model.init_args.cifar_stem", str(sz.cifar_stem).lower(), "--data.init_args.image_size", str(sz.image_size),
            "--trainer.max_epochs", str(sz.pretrain_epochs), "--model.init_args.warmup_epochs", "1",
            "--trainer.logger.init_args.save_dir", str(out / "pretrain_logs"),
            "--checkpoint.dirpath", str(out / "pretrain_ckpt"), "--trainer.enable_progress_bar", "false",
            "--trainer.enable_model_summary", "false", *sz.pretrain_extra]
    start = time.perf_counter()
    cli_main(args)
    fit_seconds = time.perf_counter() - start
    ckpt = out / "pretrain_ckpt" / "last.ckpt"
    model, dm = load_run(str(ckpt), root=root, num_workers=0)
    trained = knn_eval(model, dm, test=True, device=sz.device)
    random = knn_eval(random_twin(model), dm, test=True, device=sz.device)
    return {"command": "vision-ssl " + " ".join(args), "fit_seconds": fit_seconds, "checkpoint": str(ckpt),
            "train_images": len(dm.train_set), "knn_val_top1": trained["val_top1"], "knn_test_top1": trained["test_top1"],
            "random_knn_val_top1": random["val_top1"], "random_knn_test_top1": random["test_top1"], "k": trained["k"]}


class SyncWatch(L.Callback):
    """`torch.cuda.set_sync_debug_mode(mode)` from the end of step `first` to the end of step `first + n`: the
    steps in between (next batch, transfer, augmentation, step, optimizer, callbacks) run under it."""

    def __init__(self, first: int, n: int, mode: str) -> None:
        self.first, self.n, self.mode, self.on = first, n, mode, torch.cuda.is_available()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
        if self.on and trainer.global_step == self.first:
            torch.cuda.set_sync_debug_mode(self.mode)
        elif self.on and trainer.global_step == self.first + self.n:
            torch.cuda.set_sync_debug_mode("default")

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if self.on:
            torch.cuda.set_sync_debug_mode("default")


def _where(filename: str, lineno: int) -> str:
    path = Path(filename)
    short = str(path.relative_to(REPO)) if path.is_relative_to(REPO) else "/".join(path.parts[-3:])
    try:
        code = path.read_text().splitlines()[lineno - 1].strip()
    except (OSError, IndexError):
        code = ""
    return f"{short}:{lineno}: {code}"


def _steps(sz: Any, root: str, mode: str) -> None:
    opts = Options(bf16=True, channels_last=True, compile=False)  # eager: every Python line can be named
    dm = data_module(sz, root, sz.batch_size * (sz.sync_first + sz.sync_steps + 1))
    trainer = L.Trainer(accelerator=sz.accelerator, devices=1, precision="bf16-mixed", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0, num_sanity_val_steps=0, max_steps=sz.sync_first + sz.sync_steps,
                        callbacks=[SyncWatch(sz.sync_first, sz.sync_steps, mode), opts.callback("inductor"),
                                   ValidationMonitor(bank_size=4 * sz.batch_size)])
    trainer.fit(our_simclr(sz), datamodule=dm)


def host_sync(sz: Any, root: str) -> dict:
    """Syncing lines of `sz.sync_steps` SimCLR training steps (after `sz.sync_first` warm-up steps)."""
    out: dict[str, Any] = {"steps": sz.sync_steps, "after_warmup_steps": sz.sync_first,
                           "checked": torch.cuda.is_available()}
    if not out["checked"]:
        out["note"] = "no CUDA device: the same steps ran, no sync check is possible on a CPU"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _steps(sz, root, "warn")
    lines = [_where(w.filename, w.lineno) for w in caught if "synchronizing CUDA operation" in str(w.message)]
    out["warn_mode_lines"] = sorted(set(lines))
    out["warn_mode_count"] = len(lines)
    try:
        _steps(sz, root, "error")
        out["error_mode"] = "no sync raised"
    except RuntimeError as err:
        frames = traceback.extract_tb(err.__traceback__)
        ours = [f for f in frames if "vision_ssl" in f.filename] or frames
        out["error_mode"] = f"raised: {str(err).splitlines()[0][:200]}"
        out["error_mode_innermost"] = _where(frames[-1].filename, frames[-1].lineno or 0)
        out["error_mode_innermost_vision_ssl"] = _where(ours[-1].filename, ours[-1].lineno or 0)
    out["host_sync_free"] = bool(out["checked"] and not lines and out["error_mode"] == "no sync raised")
    return out
