"""The two sections of benchmarks/gpu_check.py that `speed` and `accuracy` have no function for (the timed
sections (a)-(c) call `benchmarks.lib.throughput` and `method_speed`):

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

from vision_ssl import recipes
from vision_ssl.cli import main as cli_main
from vision_ssl.data import FashionMNISTDataModule
from vision_ssl.eval import load_run, random_twin
from vision_ssl.eval.knn import knn_eval
from vision_ssl.eval.monitor import ValidationMonitor
from vision_ssl.utils.speed import SpeedOptions

REPO = Path(__file__).resolve().parents[2]


def our_simclr(sz: Any) -> Any:
    """The published SimCLR recipe (configs/simclr_fashion_mnist.yaml, built by the CLI's parser) on the check's
    backbone and image size."""
    model, _ = recipes.instantiate("simclr", batch_size=sz.batch_size, extra_args=[
        "--model.init_args.backbone", sz.backbone, "--model.init_args.backbone_kwargs", json.dumps(dict(sz.backbone_kwargs)),
        "--model.init_args.cifar_stem", str(sz.cifar_stem).lower(), "--data.init_args.image_size", str(sz.image_size)])
    return model


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
    dm = FashionMNISTDataModule(root=root, image_size=sz.image_size, channels=3, batch_size=sz.batch_size,
                                num_workers=0, max_train_samples=sz.batch_size * (sz.sync_first + sz.sync_steps + 1))
    trainer = L.Trainer(accelerator=sz.accelerator, devices=1, precision="bf16-mixed", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0, num_sanity_val_steps=0, max_steps=sz.sync_first + sz.sync_steps,
                        callbacks=[SyncWatch(sz.sync_first, sz.sync_steps, mode), SpeedOptions(channels_last=True),  # eager: every line can be named
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
