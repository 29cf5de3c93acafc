"""Training and scoring of one (method, seed) of the accuracy benchmark (`python -m benchmarks.accuracy`).

Training is a user's run: `vision-ssl fit --config configs/<method>_fashion_mnist.yaml` with budget overrides only
(`vision_ssl.recipes.budget_args`), built by `vision_ssl.cli.build_cli` in this process. Two callbacks join through
`--trainer.callbacks`: `CurveKNN` (kNN val top-1 after every epoch, per-epoch wall times) and `EpochLastCheckpoint`
(one `last.ckpt`, written atomically after every epoch), so a killed run continues through `--ckpt_path`.

Scores, on frozen un-augmented features of the test split (the functions `vision-ssl report` uses): a linear probe
(`probe_features`, lr chosen on val), kNN (k = 200, T = 0.07, `knn_top1`) and top-1 after fine-tuning on 10 % of
the training labels (`vision_ssl.eval.finetune.finetune`, per-class seeded subset, test split once) at the backbone
lr scale (0.1 or 1 × the head's) with the better val top-1.
"""

from __future__ import annotations

import os
import time
from typing import Any

import lightning as L
import torch
from torch.utils.data import Subset

from vision_ssl.eval import extract_splits, knn_top1, probe_features
from vision_ssl.eval.finetune import finetune
from vision_ssl.utils.checkpoint import LastCheckpoint, load_checkpoint

QUIET = ["--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.enable_progress_bar", "false",
         "--trainer.enable_model_summary", "false", "--trainer.num_sanity_val_steps", "0",
         "--trainer.limit_val_batches", "0", "--checkpoint.save_top_k", "0", "--last_checkpoint.save_last", "false"]


class EpochLastCheckpoint(LastCheckpoint):
    """`last.ckpt` after every training epoch as well as at the end. Lightning 2.6's epoch-end hook writes "last"
    only in a step that also wrote a top-k file, which `save_top_k=0` never does, so it is called directly."""

    def __init__(self, dirpath: str) -> None:
        super().__init__(dirpath=dirpath, save_top_k=0, save_last=True, enable_version_counter=False)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))


def last_epoch(ckpt: str) -> int | None:
    """Epochs finished by the run that wrote `ckpt` (None when there is no usable file)."""
    if not os.path.isfile(ckpt):
        return None
    try:
        return int(load_checkpoint(ckpt, weights_only=False)["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"])
    except (ValueError, KeyError) as err:
        print(f"  ignoring unusable checkpoint {ckpt}: {err}", flush=True)
        return None


def fit_args(config: str, recipe_args: list[str], seed: int, ckpt_dir: str, curve_bank: int) -> list[str]:
    """The `vision-ssl fit` command line of one run, resuming from `ckpt_dir/last.ckpt` when a run left one."""
    ckpt = os.path.join(ckpt_dir, "last.ckpt")
    args = ["fit", "--config", config, *recipe_args, "--seed_everything", str(seed), *QUIET,
            "--checkpoint.dirpath", ckpt_dir, "--trainer.logger.init_args.save_dir", os.path.join(ckpt_dir, "logs"),
            "--trainer.callbacks+", "benchmarks.lib.curves.CurveKNN", "--trainer.callbacks.bank", str(curve_bank),
            "--trainer.callbacks+", "benchmarks.lib.budget_runs.EpochLastCheckpoint",
            "--trainer.callbacks.dirpath", ckpt_dir]
    return args + (["--ckpt_path", ckpt] if last_epoch(ckpt) is not None else [])


def train(config: str, recipe_args: list[str], seed: int, ckpt_dir: str, curve_bank: int) -> tuple[Any, Any, dict[str, Any]]:
    """`vision-ssl fit` of `config` with `recipe_args` (budget and `--set` overrides) at `seed`.

    Returns:
        The trained model, its data module, and `curve` (kNN val top-1 at epoch 0, 1, ...), `epoch_s`, `train_s`,
        `train_images_per_s`, `resumed_at_epoch`.
    """
    from benchmarks.lib.curves import CurveKNN
    from vision_ssl.cli import build_cli

    done = last_epoch(os.path.join(ckpt_dir, "last.ckpt"))
    if done is not None:
        print(f"  resuming from {ckpt_dir}/last.ckpt after epoch {done}", flush=True)
    cli = build_cli(fit_args(config, recipe_args, seed, ckpt_dir, curve_bank))
    meter = next(cb for cb in cli.trainer.callbacks if isinstance(cb, CurveKNN))
    return cli.model, cli.datamodule, {
        "curve": meter.curve, "epoch_s": meter.epoch_seconds, "train_s": meter.seconds,
        "train_images_per_s": meter.images_per_second, "resumed_at_epoch": done}


def score(backbone: torch.nn.Module, normalize: torch.nn.Module, dm: Any, seed: int, probe_epochs: int,
          finetune_epochs: int, feats: dict[str, Any] | None = None) -> dict[str, Any]:
    """Linear probe, kNN and 10 %-label fine-tune top-1 on the test split (`feats`: cached frozen features)."""
    start = time.perf_counter()
    if feats is None:
        feats = extract_splits(backbone, normalize, dm, test=True)
    probe = probe_features(feats, dm.num_classes, lrs=(1e-3, 3e-3, 1e-2), epochs=probe_epochs, seed=seed)
    knn = knn_top1(*feats["train"], *feats["test"], dm.num_classes)
    out: dict[str, Any] = {"linear_top1": probe["test_top1"], "linear_val_top1": probe["val_top1"], "probe_lr": probe["lr"],
                           "knn_top1": knn, "test_samples": len(feats["test"][1])}
    mid = time.perf_counter()
    out.update(score_finetune(backbone, normalize, dm, seed, finetune_epochs))
    out.update(eval_probe_knn_s=mid - start, eval_finetune_s=time.perf_counter() - mid)
    return out


FINETUNE_SCALES = (0.1, 1.0)  # backbone lr / head lr, chosen on val (benchmarks/results/finetune_lr_scale.md)


def score_finetune(backbone: torch.nn.Module, normalize: torch.nn.Module, dm: Any, seed: int, epochs: int,
                   scales: tuple[float, ...] = FINETUNE_SCALES) -> dict[str, Any]:  # fmt: skip
    """10 %-label fine-tune top-1 on the test split at the backbone lr scale (of `scales`) with the best val top-1;
    every scale's val and test top-1 in `finetune10_by_scale`."""
    if epochs <= 0:
        return {"finetune10_top1": None}
    runs = {scale: finetune(backbone, normalize, dm, epochs=epochs, label_fraction=0.1, seed=seed, test=True,
                            backbone_lr_scale=scale) for scale in scales}  # fmt: skip
    scale = max(runs, key=lambda k: runs[k]["val_top1"])
    ft = runs[scale]
    return {"finetune10_top1": ft["test_top1"], "finetune10_val_top1": ft["val_top1"], "finetune10_images": ft["num_train"],
            "finetune10_backbone_lr_scale": scale,
            "finetune10_by_scale": {str(k): {"val": v["val_top1"], "test": v["test_top1"]} for k, v in runs.items()}}


def limit_test(dm: Any, max_test: int | None) -> None:
    """Keep the first `max_test` test images (smoke runs only; None keeps the 10,000)."""
    dm.setup(None)
    if max_test is not None and max_test < len(dm.test_set):
        dm.test_set = Subset(dm.test_set, list(range(max_test)))
