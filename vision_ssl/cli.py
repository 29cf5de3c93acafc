"""The `vision-ssl` command: LightningCLI over every method and data module.

    vision-ssl fit --config configs/simclr_fashion_mnist.yaml
    vision-ssl fit --config configs/demo.yaml --trainer.max_epochs 2 --data.batch_size 128
    vision-ssl test --config configs/demo.yaml --ckpt_path runs/demo/version_0/checkpoints/last.ckpt

`data.num_classes`, `data.image_size` and `data.channels` are linked into the model. The best checkpoint on
`val/probe_top1` is configured under `checkpoint.*` (with unlabelled data and no `monitor.eval_data` there is no
such key, so only `last.ckpt` is kept), the one `last.ckpt` (every N steps and at the end) under
`last_checkpoint.*`; channels_last and torch.compile under `speed.*` (`vision_ssl.utils.speed`, on in the GPU
configs); logs go to TensorBoard under `runs/`. A half-precision config run without a GPU runs in
32-true and says so (bf16 is kept on CPUs with bf16 instructions, where it is faster than fp32).
"""

from __future__ import annotations

import glob
import importlib
import inspect
import logging
import os
import sys
import warnings
from typing import Any

import torch
from jsonargparse import Namespace, lazy_instance
from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.utilities.rank_zero import rank_zero_info
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import vision_ssl.data  # noqa: F401  (registers the data modules for short class names)
import vision_ssl.methods  # noqa: F401  (registers the methods for short class names)
from vision_ssl.data.extras import MissingExtraError
from vision_ssl.eval.monitor import ValidationMonitor
from vision_ssl.registry import short_class_paths
from vision_ssl.utils.checkpoint import AtomicCheckpointIO, LastCheckpoint, load_checkpoint
from vision_ssl.utils.speed import SpeedOptions

EXTRA_COMMANDS = {
    "probe": "vision_ssl.eval.linear_probe.main",
    "knn": "vision_ssl.eval.knn.main",
    "finetune": "vision_ssl.eval.finetune.main",
    "report": "vision_ssl.eval.report.main",
    "export": "vision_ssl.export.main",
    "prepare-data": "vision_ssl.data.shards.main",
    "embed": "vision_ssl.embed_cli.main",
}
# Raised by our own checks with a message naming the bad value and what is allowed, or the extra to install.
USER_ERRORS = (ValueError, FileNotFoundError, FloatingPointError, MissingExtraError)
# No `plugins` default: jsonargparse cannot serialise an instance, so AtomicCheckpointIO is installed on the built
# trainer instead (`instantiate_trainer`).
TRAINER_DEFAULTS = {"logger": lazy_instance(TensorBoardLogger, save_dir="runs", name="vision_ssl", default_hp_metric=False)}
HALF_PRECISIONS = ("16", "16-mixed", "16-true", "bf16", "bf16-mixed", "bf16-true")


class _DropTip(logging.Filter):
    """Drops Lightning's advertisement for its cloud logger, printed by every Trainer."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in str(record.msg)


_DROP_TIP = _DropTip()


def cpu_has_native_bf16() -> bool:
    """Whether the CPU has bf16 instructions (x86 AVX512-BF16 or AMX-BF16; read from /proc/cpuinfo on Linux).

    Measured on an AMD EPYC with AVX512-BF16, ResNet-18 forward+backward, batch 64 at 32x32, one thread: fp32
    2.6 s, bf16 autocast 1.3 s, fp16 autocast 64 s. Without these instructions bf16 is emulated and slow too.
    """
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def cpu_precision(trainer: Namespace) -> str | None:
    """32-true when `trainer` asks for a half precision that is slow on the CPU it will run on, else None.

    On the CPU (`accelerator: cpu`, or `auto` with neither CUDA nor MPS), fp16 is always many times slower than
    fp32, and bf16 is too unless the CPU has bf16 instructions (then it is faster than fp32 and is kept).
    """
    precision, accelerator = str(trainer.get("precision")), trainer.get("accelerator")
    if precision not in HALF_PRECISIONS or not isinstance(accelerator, str):
        return None
    gpu = torch.cuda.is_available() or torch.backends.mps.is_available()
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not gpu)
    if not on_cpu or (precision.startswith("bf16") and cpu_has_native_bf16()):
        return None
    return "32-true"


def _loggers(value: Any) -> list[Any]:
    return [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, Namespace)]


# DistributedDataParallel's switch for the per-forward buffer sync: `forward_sync_buffers` since torch 2.12 (it
# keeps the sync at construction, which our seeded buffers need not but do not mind), `broadcast_buffers` before.
_SYNC_KEYS = ("forward_sync_buffers", "broadcast_buffers")
FORWARD_SYNC = next(k for k in _SYNC_KEYS if k in inspect.signature(DistributedDataParallel.__init__).parameters)


def skip_buffer_broadcast(trainer: Trainer, model: nn.Module) -> bool:
    """Under DDP, turn off the broadcast of rank 0's buffers before every forward where the buffers are
    rank-identical without it: queues are written with every rank's keys, DINO's centre is all-reduced, the
    non-finite flag is gathered when read, and BatchNorm statistics are global with `sync_batchnorm` (without
    it, rank-local statistics would give ranks different eval features: the broadcast stays). A value chosen in
    the config (a `DDPStrategy` `init_args`) is kept. Returns whether it was turned off."""
    strategy = trainer.strategy
    if not isinstance(strategy, DDPStrategy) or any(strategy._ddp_kwargs.get(k) is not None for k in _SYNC_KEYS):
        return False
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    if has_bn and strategy._layer_sync is None:
        return False
    strategy._ddp_kwargs[FORWARD_SYNC] = False
    return True


class VisionSSLCLI(LightningCLI):
    """LightningCLI with our links, checkpointing and logging defaults."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        # `last.ckpt` every N optimizer steps and at the end, so a killed run loses at most N steps (`--ckpt_path
        # last`). Its only writer: with `checkpoint.save_last` too, the second writer of "last" in one folder makes
        # a stale `last-v1.ckpt`.
        parser.add_lightning_class_args(LastCheckpoint, "last_checkpoint")
        parser.set_defaults(
            {
                "last_checkpoint.save_top_k": 0,
                "last_checkpoint.save_last": True,
                "last_checkpoint.every_n_train_steps": 100,
                "last_checkpoint.enable_version_counter": False,
            }
        )
        parser.link_arguments("checkpoint.dirpath", "last_checkpoint.dirpath")
        parser.add_lightning_class_args(LearningRateMonitor, "lr_monitor")
        parser.add_lightning_class_args(ValidationMonitor, "monitor")  # val/knn_top1 and the collapse statistics
        parser.add_lightning_class_args(SpeedOptions, "speed")  # channels_last and torch.compile, off by default
        parser.set_defaults({"lr_monitor.logging_interval": "step"})
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/probe_top1",
                "checkpoint.mode": "max",
                "checkpoint.save_last": False,
                "checkpoint.filename": "best-epoch{epoch:03d}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )
        parser.link_arguments("data.init_args.image_size", "model.init_args.image_size")
        parser.link_arguments("data.init_args.channels", "model.init_args.in_chans")
        parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")

    def _parse_ckpt_path(self) -> None:
        """Refuse a corrupt checkpoint, or one written by another method than the configured one, before
        LightningCLI reads the checkpoint's hyper-parameters into the model config."""
        sub = self.config.get("subcommand")
        ckpt_path = self.config[sub].get("ckpt_path") if sub else None
        if ckpt_path and os.path.isfile(ckpt_path):
            written_by = load_checkpoint(ckpt_path, weights_only=True).get("vision_ssl", {}).get("method")
            configured = self.config[sub].get("model", {}).get("class_path")
            if written_by and configured and written_by.rpartition(".")[2] != configured.rpartition(".")[2]:
                raise ValueError(
                    f"checkpoint '{ckpt_path}' was written by {written_by.rpartition('.')[2]} but the config's model "
                    f"is {configured.rpartition('.')[2]}; give a {configured.rpartition('.')[2]} checkpoint or set "
                    f"--model {written_by}"
                )
        super()._parse_ckpt_path()

    def before_instantiate_classes(self) -> None:
        """Fall back to 32-true on a CPU; no placeholder `hp_metric` in TensorBoard (we log real metrics)."""
        cfg = self.config[self.subcommand] if self.subcommand else self.config
        fallback = cpu_precision(cfg.trainer)
        if fallback:
            rank_zero_info(f"vision-ssl: no GPU, so trainer.precision {cfg.trainer.precision} runs as {fallback} "
                           "(this half precision is many times slower than fp32 on this CPU)")
            cfg.trainer.precision = fallback
        for logger in _loggers(cfg.trainer.get("logger")):
            if logger.class_path.endswith("TensorBoardLogger") and "init_args" in logger:
                logger.init_args.default_hp_metric = False

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        """The trainer, writing checkpoints atomically unless the config chose its own checkpoint IO."""
        trainer = super().instantiate_trainer(**kwargs)
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()  # a kill during a save keeps the old last.ckpt
        skip_buffer_broadcast(trainer, self.model)
        return trainer

    def _check_last(self) -> None:
        """`--ckpt_path last`: name a corrupt last.ckpt before Lightning's torch.load traceback would."""
        if self.config_init[self.subcommand].get("ckpt_path") != "last":
            return
        dirs = [d for d in (getattr(cb, "dirpath", None) for cb in self.trainer.checkpoint_callbacks) if d]
        last = f"{ModelCheckpoint.CHECKPOINT_NAME_LAST}*.ckpt"
        found = [p for d in dirs for p in glob.glob(os.path.join(str(d), last))]
        if found:
            load_checkpoint(max(found, key=os.path.getmtime), weights_only=True)

    def before_fit(self) -> None:
        self._check_last()
        self._label_free_checkpoints()

    def _label_free_checkpoints(self) -> None:
        """Unlabelled data and no labelled evaluation set: nothing logs `val/probe_top1`, so the best-checkpoint
        callback left on that default is switched off and `last.ckpt` is the run's checkpoint."""
        if getattr(self.model, "probe", True) is not None:
            return
        # Lightning sets `Trainer.callbacks` in its CallbackConnector without declaring it on `Trainer`.
        callbacks = self.trainer.callbacks  # type: ignore[attr-defined]
        if any(isinstance(cb, ValidationMonitor) and cb.eval_data is not None for cb in callbacks):
            return  # the monitor logs val/probe_top1 and val/knn_top1 from the evaluation set
        for cb in self.trainer.checkpoint_callbacks:
            if type(cb) is ModelCheckpoint and cb.monitor == "val/probe_top1" and cb.save_top_k:
                cb.save_top_k = 0
                rank_zero_info("vision-ssl: the data has no labels and no monitor.eval_data is given, so no "
                               "val/probe_top1 is logged: keeping last.ckpt only (give monitor.eval_data, a labelled "
                               "data module, to select checkpoints on its val/probe_top1)")

    def before_test(self) -> None:
        self._check_last()


def build_cli(args: list[str] | None = None, run: bool = True, parser_kwargs: dict[str, Any] | None = None) -> VisionSSLCLI:
    """Parse `args` (default: sys.argv), build the trainer/model/data and run the subcommand.

    `--model NAME` and `--data NAME` also take the short names of `vision_ssl.registry` (e.g. `--model simclr`).
    `parser_kwargs` go to LightningCLI (`vision_ssl.train` passes `exit_on_error: False` to get exceptions).
    """
    args = short_class_paths(sys.argv[1:] if args is None else args)
    warnings.filterwarnings("ignore", message=".*overridden `on_after_batch_transfer`.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")  # Lightning vs new torch
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        if _DROP_TIP not in logging.getLogger(name).filters:
            logging.getLogger(name).addFilter(_DROP_TIP)
    return VisionSSLCLI(
        LightningModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        trainer_defaults=TRAINER_DEFAULTS,
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
        parser_kwargs=parser_kwargs,
        args=args,
        run=run,
    )


def user_message(err: BaseException) -> str:
    """Our message alone when jsonargparse wrapped a constructor's error in its union-validation report."""
    text = str(err)
    if "Does not validate against any of the Union subtypes" not in text:
        return text
    bullets = [line.strip()[2:] for line in text.splitlines() if line.strip().startswith("- ")]
    ours = [b for b in bullets if not b.startswith(("Expected a <class 'NoneType'>", "Problem with given class_path"))]
    return ours[0] if ours else text


def main(args: list[str] | None = None) -> None:
    """Entry point of the `vision-ssl` console script; `args` lets tests call it in-process.

    Extra commands (`vision-ssl probe CKPT ...`, see EXTRA_COMMANDS) run their own parsers; everything else goes
    to LightningCLI. User errors (bad values, missing files, a non-finite loss) print one clear line and exit 1
    without a traceback.
    """
    argv = sys.argv[1:] if args is None else args
    try:
        if argv and argv[0] in EXTRA_COMMANDS:
            module, _, func = EXTRA_COMMANDS[argv[0]].rpartition(".")
            getattr(importlib.import_module(module), func)(argv[1:])
        else:
            build_cli(args)  # None: LightningCLI reads sys.argv itself
    except USER_ERRORS as err:
        if os.environ.get("VISION_SSL_TRACEBACK") or args is not None:
            raise  # in-process callers (tests, notebooks) get the exception itself
        sys.exit(f"vision-ssl: error: {user_message(err)}\n(set VISION_SSL_TRACEBACK=1 for the full traceback)")


if __name__ == "__main__":
    main()
