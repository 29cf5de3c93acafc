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
    from vision_ssl.encoder_options import add_encoder_args, data_overrides
    from vision_ssl.eval.encoders import cli_encoders

    parser = argparse.ArgumentParser(prog="vision-ssl knn", description=__doc__.splitlines()[0])
    add_encoder_args(parser, random_baseline=True)
    parser.add_argument("--k", type=int, default=200, help="neighbours voting (default 200, as in Wu et al.)")
    parser.add_argument("--temperature", type=float, default=0.07, help="vote weights exp(sim / T)")
    args = parser.parse_args(argv)
    overrides = data_overrides(args)
    rows, dm = cli_encoders(args.encoder, args.data_from, args.image_size, args.random_baseline, args.data, **overrides)
    for name, m in rows:
        start = time.perf_counter()
        r = knn_eval(m, dm, args.k, args.temperature, test=args.test, device=args.device)
        extra = f"  test top-1 {r['test_top1']:.4f}" if "test_top1" in r else ""
        print(f"{name:>20}: val kNN top-1 {r['val_top1']:.4f} (k={args.k}, T={args.temperature}, "
              f"{time.perf_counter() - start:.0f}s){extra}")


if __name__ == "__main__":
    main()
