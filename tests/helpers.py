"""Shared test helpers: real-data modules, the published recipes at a test budget, a quiet CPU trainer,
probe-vs-random comparisons, CLI runs. No recipe lives here: `recipe` reads it from configs/."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import lightning as L
import torch

from vision_ssl.data import FashionMNISTDataModule
from vision_ssl.eval import linear_probe
from vision_ssl.eval.features import init_kwargs

REPO = Path(__file__).resolve().parents[1]
DATA_ROOT = str(REPO / "data")
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


def fashion_mnist(max_train_samples: int = 4096, image_size: int = 28, batch_size: int = 256, **kw: Any) -> FashionMNISTDataModule:
    """A Fashion-MNIST data module on the files `make data` fetched."""
    if not os.path.isdir(os.path.join(DATA_ROOT, "FashionMNIST", "raw")):
        raise FileNotFoundError(f"Fashion-MNIST is missing under {DATA_ROOT}: run `make data`")
    return FashionMNISTDataModule(
        root=DATA_ROOT, image_size=image_size, batch_size=batch_size, num_workers=0,
        max_train_samples=max_train_samples, **kw,
    )


def quiet_trainer(max_epochs: int = 1, **kw: Any) -> L.Trainer:
    """A CPU trainer without logger, checkpoints or progress bar."""
    defaults: dict[str, Any] = dict(
        accelerator="cpu", devices=1, max_epochs=max_epochs, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )
    defaults.update(kw)
    return L.Trainer(**defaults)


def probe_vs_random(model: L.LightningModule, dm: Any, max_epochs: int, probe_epochs: int = 30) -> tuple[float, float]:
    """Pretrain `model` on `dm`, then linear-probe it and a random-weights twin (same seed, same protocol)."""
    L.seed_everything(0)
    # the same views (a config's `augment` is a module, not a hyper-parameter) and the exact starting weights
    random_twin = type(model)(**init_kwargs(model.hparams), augment=copy.deepcopy(model.augment))
    random_twin.load_state_dict(model.state_dict())
    quiet_trainer(max_epochs).fit(model, dm)
    trained = linear_probe(model, dm, lrs=(3e-3,), epochs=probe_epochs)["val_top1"]
    random = linear_probe(random_twin, dm, lrs=(3e-3,), epochs=probe_epochs)["val_top1"]
    return trained, random


def recipe(method: str, **budget: Any) -> tuple[L.LightningModule, FashionMNISTDataModule]:
    """Model and data of `configs/<method>_fashion_mnist.yaml` (the published recipe) at a test budget: only the
    budget keys of `vision_ssl.recipes` change (epochs, max_train_samples, batch_size, width, image_size), data
    from `make data`'s files, no loader workers."""
    from vision_ssl.recipes import instantiate

    if not os.path.isdir(os.path.join(DATA_ROOT, "FashionMNIST", "raw")):
        raise FileNotFoundError(f"Fashion-MNIST is missing under {DATA_ROOT}: run `make data`")
    return instantiate(method, root=DATA_ROOT, num_workers=0, **budget)


# Extra CLI args that make a config's data small for fast_dev_run, by data-module class name. Image data modules
# not listed here (CIFAR, STL-10, ImageFolder: no files on test machines) are replaced by FakeDataModule.
_MNIST_FAST = ["--data.init_args.root", DATA_ROOT, "--data.init_args.num_workers", "0",
               "--data.init_args.max_train_samples", "256", "--data.init_args.batch_size", "16"]
FAST_DATA_ARGS: dict[str, list[str]] = {
    "FashionMNISTDataModule": _MNIST_FAST,
    "MNISTDataModule": _MNIST_FAST,
    "StochasticMovingMNISTDataModule": [  # 16x16 clips of 2 + 2 frames, 2 per batch
        "--data.init_args.root", DATA_ROOT, "--data.init_args.num_workers", "0", "--data.init_args.image_size", "16",
        "--data.init_args.future_frames", "2", "--data.init_args.batch_size", "2", "--data.init_args.val_clips", "4"],
}


def cli_args_for(config: Path, tmp_path: Path) -> list[str]:
    """`fit --config CONFIG` args with fast_dev_run, logs and checkpoints under tmp_path, and small data."""
    import yaml

    cfg = yaml.safe_load(config.read_text())
    args = ["fit", "--config", str(config), "--trainer.fast_dev_run", "1", "--trainer.accelerator", "cpu",
            "--trainer.devices", "1", "--trainer.precision", "32-true",  # GPU configs use bf16: slow on CPUs
            "--trainer.logger.init_args.save_dir", str(tmp_path),
            "--checkpoint.dirpath", str(tmp_path / "ckpt"),
            "--speed.compile", "false"]  # compiling every config on CPU costs minutes; tests/utils/test_speed.py compiles
    data = cfg.get("data", {})
    init = data.get("init_args", {})
    cls = data.get("class_path", "").rpartition(".")[2]
    if cls in FAST_DATA_ARGS:
        return args + FAST_DATA_ARGS[cls]
    return args + ["--data", "vision_ssl.data.FakeDataModule", "--data.init_args.num_samples", "64",
                   "--data.init_args.image_size", str(init.get("image_size", 32)),
                   "--data.init_args.batch_size", str(min(16, init.get("batch_size", 16))),
                   "--data.init_args.num_workers", "0"]


def cpu_share() -> int:
    """Cores per test process: all of them (at most 2) alone, an equal share under pytest-xdist workers."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(1, min(2, (os.cpu_count() or 1) // workers))


def set_threads() -> None:
    torch.set_num_threads(cpu_share())
