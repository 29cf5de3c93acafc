"""Encoder specs shared by the evaluator commands: one string names what to evaluate.

- `PATH.ckpt`: a `vision-ssl fit` checkpoint (any method, including the supervised-from-scratch baseline);
  its data module comes with it.
- `random:PATH.ckpt`: the same method and architecture with fresh random weights (seeded), same data.
- `efficientnet_lite0_package`, `timm:NAME`, `timm:NAME=PATH`: ImageNet-supervised encoders
  (`vision_ssl.eval.imagenet`); they need the data module of a checkpoint (`data_from`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from vision_ssl.data.base import ImageDataModule
from vision_ssl.eval.features import load_run, load_run_and_checkpoint, random_twin
from vision_ssl.methods.base import SSLMethod
from vision_ssl.methods.video_base import VideoMethod


@dataclass
class Encoder:
    """What the evaluators need: a backbone, its input transform, and the facts the report prints."""

    backbone: nn.Module
    normalize: nn.Module
    method: str
    arch: str
    epochs: str
    seed: str
    spec: str


def is_checkpoint_spec(spec: str) -> bool:
    return not (spec.startswith("timm:") or spec == "efficientnet_lite0_package")


def _checkpoint_facts(ckpt: dict[str, Any]) -> dict[str, Any]:
    """Trained epochs (epochs whose training steps all ran) and the run seed (the augmentation seed buffer)."""
    try:
        epochs = int(ckpt["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"])
    except (KeyError, TypeError):
        epochs = int(ckpt.get("epoch", -1)) + 1
    return {"epochs": epochs, "seed": int(ckpt.get("vision_ssl", {}).get("aug_seed", ckpt["state_dict"].get("aug_seed", -1)))}


def _arch(model: SSLMethod | VideoMethod) -> str:
    hp = model.hparams
    extra = ",".join(f"{k}={v}" for k, v in (hp.get("backbone_kwargs") or {}).items())
    return hp.get("backbone", f"{type(model).__name__}.encoder") + (f"({extra})" if extra else "") + ("+cifar_stem" if hp.get("cifar_stem") else "")


def cli_encoders(
    spec: str, data_from: str | None, image_size: int, random_baseline: bool, data: str | None = None,
    **data_overrides: Any
) -> tuple[list[tuple[str, Any]], ImageDataModule]:
    """(name, encoder) rows for an evaluator command: the spec, plus its random-weights twin if asked."""
    if not is_checkpoint_spec(spec):
        if random_baseline:
            raise ValueError("--random-baseline needs a checkpoint (its architecture is re-initialised)")
        enc, dm = load_encoder(spec, data_from, image_size, data=data, **data_overrides)
        return [(enc.method, enc)], dm
    model, dm = load_run(spec, data, **data_overrides)
    if data_from is not None and data is None:
        dm = load_run(data_from, **data_overrides)[1]
    return [("pretrained", model)] + ([("random weights", random_twin(model))] if random_baseline else []), dm


def load_encoder(
    spec: str, data_from: str | None = None, image_size: int = 96, seed: int = 0, data: str | None = None,
    **data_overrides: Any
) -> tuple[Encoder, ImageDataModule]:
    """The encoder named by `spec` and the data module to evaluate it on.

    Args:
        spec: see the module docstring.
        data_from: checkpoint whose data module to use (default: the spec's own checkpoint; required for
            ImageNet encoders).
        image_size: input side of ImageNet encoders (dataset images are resized to it).
        seed: seed of the random-weights baseline.
        data: labelled data to evaluate on, named as in `vision_ssl.data.resolve` (overrides `data_from`); needed for
            a checkpoint trained on unlabelled images.
        **data_overrides: data-module arguments to change (`root`, `batch_size`, ...).
    """
    if is_checkpoint_spec(spec):
        path = spec.removeprefix("random:")
        model, dm, ckpt = load_run_and_checkpoint(path, data, **data_overrides)
        if data_from is not None and data_from != path and data is None:
            dm = load_run(data_from, **data_overrides)[1]
        facts = _checkpoint_facts(ckpt)
        if spec.startswith("random:"):
            model = random_twin(model, seed)
            name, epochs, run_seed = "random weights", "0", str(seed)
        else:
            name, epochs, run_seed = type(model).__name__, str(facts["epochs"]), str(facts["seed"])
        return Encoder(model.backbone, model.normalize, name, _arch(model), epochs, run_seed, spec), dm
    if data_from is None and data is None:
        raise ValueError(f"'{spec}' is not a checkpoint: name the data to evaluate on (--data, or --data-from CKPT)")
    from vision_ssl.eval.imagenet import ImageNetEncoder

    enc = ImageNetEncoder(spec, image_size=image_size)
    if data is not None:
        from vision_ssl.data.resolve import data_module

        dm = data_module(data, **data_overrides)
    else:
        assert data_from is not None  # one of data and data_from is given (checked above)
        dm = load_run(data_from, **data_overrides)[1]
    return Encoder(enc.backbone, enc.normalize, "ImageNet supervised", enc.arch, "-", "-", spec), dm
