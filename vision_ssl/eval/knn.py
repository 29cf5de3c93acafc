"""Weighted k-nearest-neighbour classification of frozen features (Wu, Xiong, Yu & Lin 2018, "Unsupervised
Feature Learning via Non-Parametric Instance Discrimination", arXiv:1805.01978, Sec. 3.4; the variant DINO
reports, Caron et al. 2021, arXiv:2104.14294).

Features are L2-normalised; each of the k most cosine-similar training features votes for its label with
weight exp(s / T). No training, no hyper-parameter tuned on the test split: k = 200 and T = 0.07 as in the
papers.

    vision-ssl knn runs/demo/version_0/checkpoints/last.ckpt --random-baseline
"""

from __future__ import annotations

import argparse
import time

import torch

from vision_ssl.metrics.knn import knn_top1


def knn_eval(model, dm, k: int = 200, temperature: float = 0.07, test: bool = False, device: str = "cpu") -> dict[str, float]:  # noqa: ANN001
    """kNN top-1 of `model.backbone` on the validation split of `dm` (and the test split with `test`)."""
    from vision_ssl.eval.features import extract_splits

    feats = extract_splits(model.backbone, model.normalize, dm, test=test, device=device)
    tr_x, tr_y = feats["train"]
    result = {"val_top1": knn_top1(tr_x, tr_y, *feats["val"], dm.num_classes, k, temperature), "k": k}
    if test:
        result["test_top1"] = knn_top1(tr_x, tr_y, *feats["test"], dm.num_classes, k, temperature)
    return result


def main(argv: list[str] | None = None) -> None:
    from vision_ssl.eval.encoders import cli_encoders

    parser = argparse.ArgumentParser(prog="vision-ssl knn", description=__doc__.splitlines()[0])
    parser.add_argument("encoder", help="a `vision-ssl fit` checkpoint, efficientnet_lite0_package, timm:NAME[=PATH]")
    parser.add_argument("--data-from", default=None, help="checkpoint whose data module to use (ImageNet encoders)")
    parser.add_argument("--data", default=None, help="labelled data to evaluate on: a dataset name (fashion_mnist, ...), a folder of train/<class>/ subfolders or labelled shards (needed for checkpoints trained on unlabelled images)")
    parser.add_argument("--image-size", type=int, default=96, help="input side of ImageNet encoders")
    parser.add_argument("--k", type=int, default=200, help="neighbours voting (default 200, as in Wu et al.)")
    parser.add_argument("--temperature", type=float, default=0.07, help="vote weights exp(sim / T)")
    parser.add_argument("--random-baseline", action="store_true", help="also evaluate the backbone with random weights")
    parser.add_argument("--test", action="store_true", help="also report test top-1 (final reports only)")
    parser.add_argument("--root", default=None, help="override the data root stored in the checkpoint")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    overrides = {"root": args.root} if args.root else {}
    rows, dm = cli_encoders(args.encoder, args.data_from, args.image_size, args.random_baseline, args.data, **overrides)
    for name, m in rows:
        start = time.perf_counter()
        r = knn_eval(m, dm, args.k, args.temperature, test=args.test, device=args.device)
        extra = f"  test top-1 {r['test_top1']:.4f}" if "test_top1" in r else ""
        print(f"{name:>20}: val kNN top-1 {r['val_top1']:.4f} (k={args.k}, T={args.temperature}, "
              f"{time.perf_counter() - start:.0f}s){extra}")


if __name__ == "__main__":
    main()
