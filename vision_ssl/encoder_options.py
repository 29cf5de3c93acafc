"""The command-line options of every command that loads encoders by spec (`vision-ssl probe`, `knn`, `finetune`,
`report`, `embed`); specs are described in `vision_ssl.eval.encoders` and `vision_ssl.pretrained`."""

from __future__ import annotations

import argparse
from typing import Any

import torch

SPEC_HELP = "PATH.ckpt (a `vision-ssl fit` checkpoint), random:PATH.ckpt, efficientnet_lite0_package or timm:NAME[=PATH]"


def add_encoder_args(
    parser: argparse.ArgumentParser, many: bool = False, labelled_data: bool = True, random_baseline: bool = False,
    test: bool = True,
) -> None:
    """The options of every command that loads encoders by spec (`vision-ssl probe`, `knn`, `finetune`, `report`,
    `embed`): the encoder spec(s), `--image-size` and `--device`; with `labelled_data`, the evaluators' data options
    `--data`, `--data-from`, `--root` and the flags `--test` (`test`) and `--random-baseline` (`random_baseline`).

    Args:
        parser: the command's parser.
        many: a list of specs (`encoders`) instead of one (`encoder`).
        labelled_data: the evaluators' options; without it (`embed`) the command names its data itself and the image
            size defaults to the encoder's own.
        random_baseline: add `--random-baseline`.
        test: add `--test` (with `labelled_data`).
    """
    if many:
        parser.add_argument("encoders", nargs="+", help=f"encoder specs: {SPEC_HELP}")
    else:
        parser.add_argument("encoder", help=f"encoder spec: {SPEC_HELP}")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="torch device (default: cuda when available, else cpu)")
    if not labelled_data:
        parser.add_argument("--image-size", type=int, default=None,
                            help="side images are resized to (default: the checkpoint's; 224 for ImageNet encoders)")
        return
    parser.add_argument("--image-size", type=int, default=96, help="input side of ImageNet encoders")
    parser.add_argument("--data", default=None, help="labelled data to evaluate on: a dataset name (fashion_mnist, "
                        "...), a folder of train/<class>/ subfolders or labelled shards (needed for checkpoints "
                        "trained on unlabelled images)")
    parser.add_argument("--data-from", default=None,
                        help="checkpoint whose data module to use (default: the (first) checkpoint's own; needed for ImageNet encoders)")
    parser.add_argument("--root", default=None, help="override the data root stored in the checkpoint")
    parser.add_argument("--max-train-samples", type=int, default=None,
                        help="use only this many (seeded) training images: the kNN bank and the probe's training set")
    if test:
        parser.add_argument("--test", action="store_true", help="also report test top-1 (final reports only)")
    if random_baseline:
        parser.add_argument("--random-baseline", action="store_true",
                            help="also evaluate the same backbone with random weights")


def data_overrides(args: Any) -> dict[str, Any]:
    """The data-module arguments the options above override (`--root`, `--max-train-samples`), where given."""
    given = {"root": args.root, "max_train_samples": args.max_train_samples}
    return {k: v for k, v in given.items() if v is not None}
