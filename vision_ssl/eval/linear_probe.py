"""Offline linear probe: a frozen backbone's features are extracted once (no augmentation), a linear classifier
is trained on them, its learning rate is chosen on the held-out validation split, and the validation top-1 of
the chosen setting is reported (the test split only with `--test`, for final reports).

    vision-ssl probe runs/demo/checkpoints/last.ckpt --random-baseline
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from vision_ssl.eval.features import extract_features, init_kwargs, load_run
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


def linear_probe(
    model: SSLMethod,
    dm,  # noqa: ANN001 - any ImageDataModule
    lrs: Sequence[float] = (1e-3, 3e-3, 1e-2),
    epochs: int = 100,
    test: bool = False,
    device: str = "cpu",
) -> dict[str, float]:
    """Probe `model.backbone` on `dm`; returns val (and test) top-1 and the chosen learning rate."""
    dm.setup("fit" if not test else None)
    tr_x, tr_y = extract_features(model.backbone, model.normalize, dm.train_set, device=device)
    va_x, va_y = extract_features(model.backbone, model.normalize, dm.val_set, device=device)
    keep = tr_y >= 0  # unlabelled images (label -1) cannot train a probe
    tr_x, tr_y = tr_x[keep], tr_y[keep]
    mu, sigma = tr_x.mean(0), tr_x.std(0) + 1e-6  # standardise with train statistics only
    tr_x, va_x = (tr_x - mu) / sigma, (va_x - mu) / sigma
    best = max(
        ((accuracy(clf := fit_linear(tr_x, tr_y, dm.num_classes, lr, epochs=epochs), va_x, va_y), lr, clf) for lr in lrs),
        key=lambda r: r[0],
    )
    result = {"val_top1": best[0], "lr": best[1], "num_train": len(tr_x), "num_val": len(va_x)}
    if test:
        te_x, te_y = extract_features(model.backbone, model.normalize, dm.test_set, device=device)
        result["test_top1"] = accuracy(best[2], (te_x - mu) / sigma, te_y)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="vision-ssl probe", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a checkpoint written by `vision-ssl fit`")
    parser.add_argument("--random-baseline", action="store_true", help="also probe the same backbone with random weights")
    parser.add_argument("--test", action="store_true", help="also report test top-1 (final reports only)")
    parser.add_argument("--epochs", type=int, default=100, help="probe training epochs over the cached features")
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2], help="learning rates tried")
    parser.add_argument("--root", default=None, help="override the data root stored in the checkpoint")
    args = parser.parse_args(argv)
    overrides = {"root": args.root} if args.root else {}
    model, dm = load_run(args.checkpoint, **overrides)
    rows = [("pretrained", model)]
    if args.random_baseline:
        torch.manual_seed(0)
        rows.append(("random weights", type(model)(**init_kwargs(model.hparams))))
    for name, m in rows:
        start = time.perf_counter()
        r = linear_probe(m, dm, lrs=args.lrs, epochs=args.epochs, test=args.test)
        extra = f"  test top-1 {r['test_top1']:.4f}" if "test_top1" in r else ""
        print(
            f"{name:>15}: val linear-probe top-1 {r['val_top1']:.4f} (lr {r['lr']:g}, {r['num_train']} train / "
            f"{r['num_val']} val images, {time.perf_counter() - start:.0f}s){extra}"
        )


if __name__ == "__main__":
    main()
