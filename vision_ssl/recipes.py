"""The published recipes: `configs/<method>_<dataset>.yaml`, run as they are or at a smaller budget.

A config is the one source of a method's recipe (backbone, heads, loss settings, views, optimizer, warm-up). Tests
and benchmarks that want "method X for fewer epochs on fewer images" start from the same file and change the
budget only, through the same `vision-ssl fit` parser a user runs:

    budget_args("simclr", epochs=3, max_train_samples=4096, batch_size=64)   # CLI overrides
    model, dm = instantiate("simclr", max_train_samples=4096, batch_size=64, root="data")

Budget keys: `epochs`, `max_train_samples`, `batch_size`, `width` (of the `tiny` backbone; configs with another
backbone keep theirs), `image_size`, and where data and work go: `root`, `num_workers`, `accelerator`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from vision_ssl.registry import IMAGE_METHODS, METHODS

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
BUDGET_KEYS = ("epochs", "max_train_samples", "batch_size", "width", "image_size", "root", "num_workers",
               "accelerator")


def config_path(method: str, dataset: str = "fashion_mnist") -> Path:
    """`configs/<method>_<dataset>.yaml`; an unknown method or a missing file names what exists."""
    if method not in METHODS:
        raise ValueError(f"Unknown method '{method}'. Valid method names: {', '.join(sorted(METHODS))}")
    path = CONFIG_DIR / f"{method}_{dataset}.yaml"
    if not path.is_file():
        have = sorted(p.stem.removeprefix(f"{method}_") for p in CONFIG_DIR.glob(f"{method}_*.yaml"))
        raise FileNotFoundError(f"no config {path.name} in {CONFIG_DIR}; {method} has: {', '.join(have) or 'none'}")
    return path


def load(method: str, dataset: str = "fashion_mnist") -> dict[str, Any]:
    """The parsed YAML of a method's config."""
    return yaml.safe_load(config_path(method, dataset).read_text())


def budget_args(method: str, dataset: str = "fashion_mnist", **budget: Any) -> list[str]:
    """`vision-ssl fit` arguments that change the budget of `configs/<method>_<dataset>.yaml` and nothing else.

    Args:
        method: a registered method with a config for `dataset`.
        dataset: the config's dataset suffix.
        **budget: values for `BUDGET_KEYS`; None leaves the config's value.
    """
    unknown = set(budget) - set(BUDGET_KEYS)
    if unknown:
        raise ValueError(f"not budget keys: {', '.join(sorted(unknown))} (a recipe change belongs in the config); "
                         f"budget keys: {', '.join(BUDGET_KEYS)}")
    b = {k: v for k, v in budget.items() if v is not None}
    args: list[str] = []
    if "epochs" in b:
        args += ["--trainer.max_epochs", str(b["epochs"])]
    if "accelerator" in b:
        args += ["--trainer.accelerator", str(b["accelerator"])]
    for key in ("max_train_samples", "batch_size", "image_size", "root", "num_workers"):
        if key in b:
            args += [f"--data.init_args.{key}", str(b[key])]
    if "width" in b:
        model = load(method, dataset)["model"]["init_args"]
        if model.get("backbone") == "tiny":  # a ViT recipe sizes its own backbone
            kwargs = {**(model.get("backbone_kwargs") or {}), "width": int(b["width"])}
            args += ["--model.init_args.backbone_kwargs", json.dumps(kwargs)]
    return args


def instantiate(method: str, dataset: str = "fashion_mnist", extra_args: list[str] | None = None,
                **budget: Any) -> tuple[Any, Any]:
    """The model and data module of a method's config at `budget`, built by the `vision-ssl fit` parser (seeded
    by the config's `seed_everything`, links applied) without training.

    Args:
        method: a registered method with a config for `dataset`.
        dataset: the config's dataset suffix.
        extra_args: more `vision-ssl fit` arguments (benchmarks' `--set` bisections; tests never pass recipe keys).
        **budget: see `budget_args`.
    """
    from vision_ssl.cli import build_cli

    args = ["--config", str(config_path(method, dataset)), *budget_args(method, dataset, **budget),
            "--trainer.logger", "false", *(extra_args or [])]
    cli = build_cli(args, run=False)
    return cli.model, cli.datamodule


__all__ = ["BUDGET_KEYS", "CONFIG_DIR", "IMAGE_METHODS", "budget_args", "config_path", "instantiate", "load"]
