"""The Python API: the `vision-ssl` command's machinery called from Python.

    import vision_ssl
    vision_ssl.list_methods()                                    # ['barlow_twins', 'byol', ...]
    ckpt = vision_ssl.train("simclr", "photos/", out="runs/photos", backbone="resnet18", epochs=10, image_size=64)
    encoder = vision_ssl.load_encoder(ckpt)                      # no dataset needed
    features = vision_ssl.embed(encoder, "photos/")              # (N, D)

`train` builds the argument list of `vision-ssl fit` and runs it through the same LightningCLI (`vision_ssl.cli`),
so a Python run and the command line run of the same settings train the same way (tests/cli/test_api.py compares
their first losses). `list_methods` and `create_method` read the one registry (`vision_ssl.registry.METHODS`) the
CLI's short names, the tests and the benchmarks read.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import lightning as L

from vision_ssl.export import export_backbone
from vision_ssl.pretrained import PretrainedEncoder, embed, load_encoder
from vision_ssl.registry import METHODS, resolve

__all__ = ["PretrainedEncoder", "create_method", "data_args", "embed", "export_backbone", "list_methods", "load_encoder", "train",
           "train_args"]
# Components whose arguments sit under `init_args` (`model.temperature` means `model.init_args.temperature`).
SUBCLASS_KEYS = ("model", "data")


def list_methods() -> list[str]:
    """Short names of the registered methods, sorted (what `create_method`, `train` and `--model` take)."""
    return sorted(METHODS)


def create_method(name: str, **kwargs: Any) -> L.LightningModule:
    """A registered method built with `kwargs` (its constructor's arguments, e.g. `backbone="tiny"`).

    Raises:
        ValueError: `name` is not registered (the message lists the valid names).
    """
    return resolve(METHODS, name, "method")(**kwargs)


def data_args(data: str) -> list[str]:
    """CLI arguments choosing the data module of `data`.

    `data` is a dataset name of `vision_ssl.registry.DATAMODULES` (root `data`), shards written by `vision-ssl
    prepare-data` (a folder holding `vision_ssl_shards.json`, or a URL), a folder with `train/<class>/` subfolders
    (ImageFolderDataModule), or any other folder, read as unlabelled images (UnlabeledFolderDataModule).

    Raises:
        ValueError: `data` is neither a folder nor a registered name.
    """
    return _data_module_args("data", data)


def eval_data_args(data: str) -> list[str]:
    """CLI arguments giving `ValidationMonitor` the labelled evaluation set `data` (named as in `data_args`)."""
    return _data_module_args("monitor.eval_data", data)


def _data_module_args(key: str, data: str) -> list[str]:
    """`--KEY CLASS_PATH --KEY.init_args.NAME VALUE ...` for the data module `data` names (`data.resolve`)."""
    from vision_ssl.data.resolve import data_spec

    class_path, init = data_spec(data)
    return [f"--{key}", class_path] + [a for k, v in init.items() for a in (f"--{key}.init_args.{k}", str(v))]


def _key(key: str) -> str:
    """`model.temperature` -> `model.init_args.temperature`; full keys and other groups unchanged."""
    group, _, rest = key.partition(".")
    if group in SUBCLASS_KEYS and rest and not rest.startswith(("init_args", "class_path")):
        return f"{group}.init_args.{rest}"
    return key


def _value(value: Any) -> str:
    """A Python value as the CLI parses it (YAML): strings as they are, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def train_args(method: str | None, data: str | None, *, out: str, backbone: str | None = None,
               epochs: int | None = None, batch_size: int | None = None, image_size: int | None = None,
               devices: int | str | None = None, config: str | None = None, seed: int = 0,
               eval_data: str | None = None, **overrides: Any) -> list[str]:
    """The `vision-ssl fit` argument list `train` runs (see `train`)."""
    if method is None and config is None:
        raise ValueError("give a method (one of " + ", ".join(list_methods()) + ") or a config file")
    args = ["fit"] + (["--config", config] if config else [])
    if method is not None:
        resolve(METHODS, method, "method")  # an unknown name lists the valid ones
        args += ["--model", METHODS[method]]
    if data is not None:
        args += data_args(data)
    if eval_data is not None:
        args += eval_data_args(eval_data)
    args += ["--seed_everything", str(seed), "--trainer.default_root_dir", out,
             "--trainer.logger.init_args.save_dir", out, "--trainer.logger.init_args.name", "logs",
             "--checkpoint.dirpath", os.path.join(out, "checkpoints")]
    named = {"model.init_args.backbone": backbone, "trainer.max_epochs": epochs, "data.init_args.batch_size": batch_size,
             "data.init_args.image_size": image_size, "trainer.devices": devices}
    for key, value in {**{k: v for k, v in named.items() if v is not None}, **overrides}.items():
        args += [f"--{_key(key)}", _value(value)]
    return args


def train(method: str | None, data: str | None, *, out: str, backbone: str | None = None, epochs: int | None = None,
          batch_size: int | None = None, image_size: int | None = None, devices: int | str | None = None,
          config: str | None = None, seed: int = 0, eval_data: str | None = None, **overrides: Any) -> str:
    """Pretrain `method` on `data` with `vision-ssl fit` in this process; returns the path of the final `last.ckpt`.

    Args:
        method: a name of `list_methods()` (None: the config's model).
        data: a dataset name, an image folder (class subfolders under `train/`, or flat unlabelled images), or shards
            from `vision-ssl prepare-data` (see `data_args`); None: the config's data.
        out: folder of the run: TensorBoard logs under `out/logs/version_*`, checkpoints under `out/checkpoints`.
        backbone: backbone name (`tiny`, or any timm model); None: the method's or config's default.
        epochs: `trainer.max_epochs`.
        batch_size: per-process batch size (`data.batch_size`).
        image_size: side images are resized to (`data.image_size`, linked into the model).
        devices: `trainer.devices`.
        config: a YAML config (e.g. `configs/demo.yaml`) read first; the arguments above override it.
        seed: `seed_everything`.
        eval_data: a labelled evaluation set (named like `data`) watched every validation epoch by kNN and a linear
            probe (`val/knn_top1`, `val/probe_top1`): how a run on unlabelled images is seen to improve.
        **overrides: dotted CLI keys, e.g. `{"model.temperature": 0.2, "trainer.limit_train_batches": 2}` as
            `**{...}`; `model.X` and `data.X` mean `model.init_args.X` and `data.init_args.X`.

    Raises:
        ValueError: an unknown method, data, key or value (the CLI's message).
    """
    from vision_ssl.cli import build_cli, user_message

    args = train_args(method, data, out=out, backbone=backbone, epochs=epochs, batch_size=batch_size,
                      image_size=image_size, devices=devices, config=config, seed=seed, eval_data=eval_data,
                      **overrides)
    try:  # parse errors as exceptions, not the command line's exit
        build_cli(args, parser_kwargs={"exit_on_error": False, "fit": {"exit_on_error": False}})
    except argparse.ArgumentError as err:
        raise ValueError(f"vision_ssl.train: {user_message(err)}") from err
    path = os.path.join(out, "checkpoints", "last.ckpt")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"the run wrote no '{path}'; a config that moves or disables last_checkpoint needs "
                                "its own path")
    return path
