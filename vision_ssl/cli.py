"""The `vision-ssl` command: LightningCLI over every method and data module.

    vision-ssl fit --config configs/simclr_fashion_mnist.yaml
    vision-ssl fit --config configs/demo.yaml --trainer.max_epochs 2 --data.batch_size 128
    vision-ssl test --config configs/demo.yaml --ckpt_path runs/demo/version_0/checkpoints/last.ckpt

`data.num_classes`, `data.image_size` and `data.channels` are linked into the model. Checkpoints (`last` and
the best on `val/probe_top1`) are configured under `checkpoint.*`; logs go to TensorBoard under `runs/`.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings

import torch
from jsonargparse import lazy_instance
from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import TensorBoardLogger

import vision_ssl.data  # noqa: F401  (registers the data modules for short class names)
import vision_ssl.methods  # noqa: F401  (registers the methods for short class names)
from vision_ssl.utils.checkpoint import AtomicCheckpointIO

EXTRA_COMMANDS = {
    "probe": "vision_ssl.eval.linear_probe.main",
    "knn": "vision_ssl.eval.knn.main",
    "finetune": "vision_ssl.eval.finetune.main",
    "report": "vision_ssl.eval.report.main",
    "export": "vision_ssl.export.main",
}
# Raised by our own checks with a message naming the bad value and what is allowed.
USER_ERRORS = (ValueError, FileNotFoundError, FloatingPointError)
TRAINER_DEFAULTS = {
    "logger": lazy_instance(TensorBoardLogger, save_dir="runs", name="vision_ssl"),
    "plugins": [AtomicCheckpointIO()],  # a kill during a save never leaves a corrupt last.ckpt
}


class VisionSSLCLI(LightningCLI):
    """LightningCLI with our links, checkpointing and logging defaults."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        # `last.ckpt` every N optimizer steps too, so a killed run loses at most N steps (`--ckpt_path last`).
        parser.add_lightning_class_args(ModelCheckpoint, "last_checkpoint")
        parser.set_defaults(
            {
                "last_checkpoint.save_top_k": 0,
                "last_checkpoint.save_last": True,
                "last_checkpoint.every_n_train_steps": 100,
            }
        )
        parser.link_arguments("checkpoint.dirpath", "last_checkpoint.dirpath")
        parser.add_lightning_class_args(LearningRateMonitor, "lr_monitor")
        parser.set_defaults({"lr_monitor.logging_interval": "step"})
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/probe_top1",
                "checkpoint.mode": "max",
                "checkpoint.save_last": True,
                "checkpoint.filename": "best-epoch{epoch:03d}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )
        parser.link_arguments("data.init_args.image_size", "model.init_args.image_size")
        parser.link_arguments("data.init_args.channels", "model.init_args.in_chans")
        parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")

    def _parse_ckpt_path(self) -> None:
        """Refuse a checkpoint written by another method than the configured one, before LightningCLI applies
        the checkpoint's hyper-parameters to the model config."""
        sub = self.config.get("subcommand")
        ckpt_path = self.config[sub].get("ckpt_path") if sub else None
        if ckpt_path and os.path.isfile(ckpt_path):
            written_by = torch.load(ckpt_path, weights_only=True, map_location="cpu").get("vision_ssl", {}).get("method")
            configured = self.config[sub].get("model", {}).get("class_path")
            if written_by and configured and written_by.rpartition(".")[2] != configured.rpartition(".")[2]:
                raise ValueError(
                    f"checkpoint '{ckpt_path}' was written by {written_by.rpartition('.')[2]} but the config's model "
                    f"is {configured.rpartition('.')[2]}; give a {configured.rpartition('.')[2]} checkpoint or set "
                    f"--model {written_by}"
                )
        super()._parse_ckpt_path()


def build_cli(args: list[str] | None = None, run: bool = True) -> VisionSSLCLI:
    """Parse `args` (default: sys.argv), build the trainer/model/data and run the subcommand."""
    warnings.filterwarnings("ignore", message=".*overridden `on_after_batch_transfer`.*")
    return VisionSSLCLI(
        LightningModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        trainer_defaults=TRAINER_DEFAULTS,
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
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
