"""`vision-ssl export CKPT --out backbone.pt`: the pretrained backbone alone, as a plain state_dict.

The file loads with `strict=True` into `timm.create_model(name, num_classes=0)` (a timm backbone trained without
the CIFAR stem), into `vision_ssl.backbones.create_backbone(name, cifar_stem=True)` (CIFAR stem) or into
`create_backbone("tiny", width=...)`; the command prints the exact line for the exported checkpoint.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import torch

from vision_ssl.utils.checkpoint import load_checkpoint

PREFIX = "backbone."


VIDEO_PREFIX = "encoder."  # the clip methods' frame encoder


def video_method(checkpoint: dict[str, Any]) -> str | None:
    """The class path of the clip method that wrote `checkpoint`, or None for an image method."""
    from vision_ssl.methods.restore import import_path
    from vision_ssl.methods.video_base import VideoMethod

    method = (checkpoint.get("vision_ssl") or {}).get("method")
    try:
        return method if method and issubclass(import_path(method), VideoMethod) else None
    except (ImportError, AttributeError):
        return None


def backbone_state_dict(checkpoint: dict[str, Any], path: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The `backbone.*` tensors of a training checkpoint with the prefix removed (`encoder.*`, the frame encoder, for
    a clip method)."""
    state = checkpoint.get("state_dict")
    if not isinstance(state, dict):
        raise ValueError(f"'{path}' has no 'state_dict': give a checkpoint written by `vision-ssl fit`")
    prefix = VIDEO_PREFIX if video_method(checkpoint) else PREFIX
    out = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    if not out:
        raise ValueError(f"'{path}' holds no backbone weights (no '{prefix}*' keys); this method has no image backbone")
    return out


def loader_line(hparams: dict[str, Any], out: str) -> str:
    """Python that rebuilds the backbone and loads the exported file."""
    name, kwargs = hparams.get("backbone", "?"), dict(hparams.get("backbone_kwargs") or {})
    in_chans = hparams.get("in_chans", 3)
    if in_chans != 3:
        kwargs["in_chans"] = in_chans
    args = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    if hparams.get("cifar_stem") or name == "tiny":
        stem = ", cifar_stem=True" if hparams.get("cifar_stem") else ""
        build = f"from vision_ssl.backbones import create_backbone; m = create_backbone({name!r}{stem}{args})"
    else:
        build = f"import timm; m = timm.create_model({name!r}, num_classes=0{args})"
    return f"{build}; m.load_state_dict(torch.load({out!r}), strict=True)"


def export_backbone(checkpoint: str, out: str) -> str:
    """Write the backbone of the `vision-ssl fit` checkpoint `checkpoint` to `out` as a plain state_dict.

    Returns:
        Python that rebuilds the backbone (timm's model for timm backbones) and loads the file with `strict=True`.
    """
    ckpt = load_checkpoint(checkpoint)
    state = backbone_state_dict(ckpt, checkpoint)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    torch.save(state, out)
    hparams = dict(ckpt.get("hyper_parameters", {}))
    if method := video_method(ckpt):  # the frame encoder: built by its method from the saved hyper-parameters
        module, _, name = method.rpartition(".")
        kwargs = {k: v for k, v in hparams.items() if not k.startswith("_")}
        return (f"from {module} import {name}; m = {name}(**{kwargs!r}).encoder; "
                f"m.load_state_dict(torch.load({out!r}), strict=True)")
    return loader_line(hparams, out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="vision-ssl export", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a checkpoint written by `vision-ssl fit`")
    parser.add_argument("--out", required=True, help="output file for the backbone state_dict")
    args = parser.parse_args(argv)
    line = export_backbone(args.checkpoint, args.out)
    state = torch.load(args.out, weights_only=True)
    n = sum(v.numel() for v in state.values())
    print(f"wrote {len(state)} tensors ({n / 1e6:.2f} M values) to {args.out}")
    print("load it with:", line)


if __name__ == "__main__":
    main()
