"""End-to-end fine-tuning of a pretrained backbone with a new linear head, optionally on a labelled fraction.

The backbone is copied (the evaluated encoder is never changed), trained in train mode with a learning rate
`backbone_lr_scale` times the head's, AdamW with cosine decay, light augmentation (random resized crop with
scale (0.5, 1) and horizontal flip, as in SimCLR's fine-tuning, Appendix B.5). The labelled fraction (1 %, 10 %
for the low-label regime) is drawn per class with a fixed seed, so every encoder sees the same images.
The schedule is fixed in advance (no selection on the test split): val top-1 after the last epoch, and test
top-1 once with `test`.

    vision-ssl finetune runs/demo/version_0/checkpoints/last.ckpt --label-fractions 0.01 0.1 --epochs 10
"""

from __future__ import annotations

import argparse
import copy
import time

import kornia.augmentation as K
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from vision_ssl.backbones import num_features_of
from vision_ssl.data.base import num_items
from vision_ssl.eval.features import extract_features
from vision_ssl.transforms.views import to_float


def dataset_labels(ds: Dataset) -> torch.Tensor:
    """Labels (N,) of a dataset, read from the tensors when it is a (Subset of a) TensorImageDataset."""
    if isinstance(ds, Subset) and hasattr(ds.dataset, "labels"):
        return ds.dataset.labels[torch.as_tensor(ds.indices)]
    if hasattr(ds, "labels"):
        return torch.as_tensor(ds.labels)
    return torch.tensor([int(ds[i][1]) for i in range(num_items(ds))])


def label_fraction_indices(labels: torch.Tensor, fraction: float, seed: int = 0) -> torch.Tensor:
    """Sorted indices of a seeded per-class `fraction` of the labelled samples (at least one per class)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    g = torch.Generator().manual_seed(seed)
    picked = []
    for c in labels[labels >= 0].unique():
        idx = (labels == c).nonzero().flatten()
        n = max(1, round(fraction * len(idx)))
        picked.append(idx[torch.randperm(len(idx), generator=g)[:n]])
    return torch.cat(picked).sort().values


@torch.no_grad()
def _accuracy(backbone: nn.Module, head: nn.Module, normalize: nn.Module, ds: Dataset, device: str) -> float:
    x, y = extract_features(backbone, normalize, ds, device=device)
    keep = y >= 0
    return (head.cpu()(x[keep]).argmax(1) == y[keep]).float().mean().item()


def finetune(
    backbone: nn.Module,
    normalize: nn.Module,
    dm,  # noqa: ANN001 - any ImageDataModule
    epochs: int = 10,
    lr: float = 1e-2,
    backbone_lr_scale: float = 0.1,
    weight_decay: float = 1e-4,
    label_fraction: float = 1.0,
    batch_size: int = 256,
    seed: int = 0,
    test: bool = False,
    device: str = "cpu",
) -> dict[str, float]:
    """Fine-tune a copy of `backbone` and a new linear head on (a fraction of) the train split of `dm`.

    Returns:
        `val_top1` (and `test_top1` with `test`), `num_train`, `label_fraction`.
    """
    dm.setup("fit" if not test else None)
    torch.manual_seed(seed)
    net = copy.deepcopy(backbone).to(device).train()
    normalize = normalize.to(device)
    head = nn.Linear(num_features_of(net), dm.num_classes).to(device)
    labels = dataset_labels(dm.train_set)
    idx = label_fraction_indices(labels, label_fraction, seed)
    train = Subset(dm.train_set, idx.tolist())
    augment = nn.Sequential(K.RandomResizedCrop(tuple(dm.train_set[0][0].shape[-2:]), scale=(0.5, 1.0)),
                            K.RandomHorizontalFlip())
    opt = torch.optim.AdamW(
        [{"params": net.parameters(), "lr": lr * backbone_lr_scale}, {"params": head.parameters(), "lr": lr}],
        weight_decay=weight_decay,
    )
    loader = DataLoader(train, batch_size=min(batch_size, len(train)), shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(seed))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs * len(loader)))
    for _ in range(epochs):
        for images, y in loader:
            images, y = images.to(device), y.to(device)
            x = normalize(augment(to_float(images)))
            loss = F.cross_entropy(head(net(x)), y, ignore_index=-1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    result = {"val_top1": _accuracy(net, head, normalize, dm.val_set, device), "num_train": len(train),
              "label_fraction": label_fraction}
    if test:
        result["test_top1"] = _accuracy(net, head, normalize, dm.test_set, device)
    return result


def main(argv: list[str] | None = None) -> None:
    from vision_ssl.encoder_options import add_encoder_args, data_overrides
    from vision_ssl.eval.encoders import load_encoder

    parser = argparse.ArgumentParser(prog="vision-ssl finetune", description=__doc__.splitlines()[0])
    add_encoder_args(parser)
    parser.add_argument("--label-fractions", type=float, nargs="+", default=[1.0], help="e.g. 0.01 0.1 1")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-2, help="head learning rate")
    parser.add_argument("--backbone-lr-scale", type=float, default=0.1, help="backbone lr = lr x this")
    parser.add_argument("--seed", type=int, default=0, help="seed of the labelled subset and the head")
    args = parser.parse_args(argv)
    enc, dm = load_encoder(args.encoder, args.data_from, args.image_size, data=args.data,
                           **data_overrides(args))
    for fraction in args.label_fractions:
        start = time.perf_counter()
        r = finetune(enc.backbone, enc.normalize, dm, args.epochs, args.lr, args.backbone_lr_scale,
                     label_fraction=fraction, seed=args.seed, test=args.test, device=args.device)
        extra = f"  test top-1 {r['test_top1']:.4f}" if "test_top1" in r else ""
        print(f"{enc.method} {enc.arch}, {fraction:.0%} labels ({r['num_train']} images): val fine-tune top-1 "
              f"{r['val_top1']:.4f} ({time.perf_counter() - start:.0f}s){extra}")


if __name__ == "__main__":
    main()
