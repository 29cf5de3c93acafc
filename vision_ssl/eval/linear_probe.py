"""Offline linear probe: a frozen backbone's features are extracted once (eval mode, no augmentation) and cached,
a linear classifier is trained on them, its learning rate and weight decay are chosen on the held-out
validation split from a small grid, and the validation top-1 of the chosen setting is reported (the test split
only with `--test`, once, with the chosen setting, for final reports).

    vision-ssl probe runs/demo/checkpoints/last.ckpt --random-baseline
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from vision_ssl.eval.features import extract_splits

if TYPE_CHECKING:
    from vision_ssl.methods.base import SSLMethod


def fit_linear(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    num_classes: int,
    lr: float,
    weight_decay: float = 0.0,
    epochs: int = 100,
    batch_size: int = 1024,
    seed: int = 0,
) -> torch.nn.Linear:
    """Train a linear classifier on standardised features with AdamW and cosine decay."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    clf = torch.nn.Linear(train_x.shape[1], num_classes)
    opt = torch.optim.AdamW(clf.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * max(1, -(-len(train_x) // batch_size))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(epochs):
        for idx in torch.randperm(len(train_x), generator=g).split(batch_size):
            loss = F.cross_entropy(clf(train_x[idx]), train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return clf


def accuracy(clf: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (clf(x).argmax(1) == y).float().mean().item()


def probe_features(
    feats: dict[str, tuple[torch.Tensor, torch.Tensor]],
    num_classes: int,
    lrs: Sequence[float] = (1e-3, 3e-3, 1e-2),
    wds: Sequence[float] = (0.0,),
    epochs: int = 100,
    seed: int = 0,
) -> dict[str, float]:
    """Linear probe on cached features `{"train": (x, y), "val": (x, y)[, "test": (x, y)]}`.

    Every (lr, weight decay) of the grid is trained on train and scored on val; the best is reported on val and,
    once, on test when the test features are given. Features are standardised with train statistics only.
    """
    tr_x, tr_y = feats["train"]
    va_x, va_y = feats["val"]
    keep = tr_y >= 0  # unlabelled images (label -1) cannot train a probe
    tr_x, tr_y = tr_x[keep], tr_y[keep]
    mu, sigma = tr_x.mean(0), tr_x.std(0) + 1e-6
    tr_x, va_x = (tr_x - mu) / sigma, (va_x - mu) / sigma
    grid = [(lr, wd) for lr in lrs for wd in wds]
    fits = [(fit_linear(tr_x, tr_y, num_classes, lr, wd, epochs=epochs, seed=seed), lr, wd) for lr, wd in grid]
    scored = [(accuracy(clf, va_x, va_y), lr, wd, clf) for clf, lr, wd in fits]
    val_top1, lr, wd, clf = max(scored, key=lambda r: r[0])  # first of equals: the smallest lr / wd
    result = {"val_top1": val_top1, "lr": lr, "wd": wd, "num_train": len(tr_x), "num_val": len(va_x)}
    if "test" in feats:
        te_x, te_y = feats["test"]
        result["test_top1"] = accuracy(clf, (te_x - mu) / sigma, te_y)
    return result


def linear_probe(
    model: SSLMethod,
    dm,  # noqa: ANN001 - any ImageDataModule
    lrs: Sequence[float] = (1e-3, 3e-3, 1e-2),
    epochs: int = 100,
    test: bool = False,
    device: str = "cpu",
    wds: Sequence[float] = (0.0,),
) -> dict[str, float]:
    """Probe the frozen `model.backbone` on `dm`; returns val (and test) top-1 and the chosen lr / wd."""
    feats = extract_splits(model.backbone, model.normalize, dm, test=test, device=device)
    return probe_features(feats, dm.num_classes, lrs=lrs, wds=wds, epochs=epochs)


def main(argv: list[str] | None = None) -> None:
    from vision_ssl.encoder_options import add_encoder_args, data_overrides
    from vision_ssl.eval.encoders import cli_encoders

    parser = argparse.ArgumentParser(prog="vision-ssl probe", description=__doc__.splitlines()[0])
    add_encoder_args(parser, random_baseline=True)
    parser.add_argument("--epochs", type=int, default=100, help="probe training epochs over the cached features")
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2], help="learning rates tried")
    parser.add_argument("--wds", type=float, nargs="+", default=[0.0, 1e-2], help="weight decays tried")
    args = parser.parse_args(argv)
    overrides = data_overrides(args)
    rows, dm = cli_encoders(args.encoder, args.data_from, args.image_size, args.random_baseline, args.data, **overrides)
    for name, m in rows:
        start = time.perf_counter()
        r = linear_probe(m, dm, lrs=args.lrs, epochs=args.epochs, test=args.test, device=args.device, wds=args.wds)
        extra = f"  test top-1 {r['test_top1']:.4f}" if "test_top1" in r else ""
        print(
            f"{name:>20}: val linear-probe top-1 {r['val_top1']:.4f} (lr {r['lr']:g}, wd {r['wd']:g}, {r['num_train']} train / "
            f"{r['num_val']} val images, {time.perf_counter() - start:.0f}s){extra}"
        )


if __name__ == "__main__":
    main()
