"""Two real gloo processes with batch N each must match one process with the concatenated batch of 2N.

Each case below builds its model and data from fixed seeds, takes this rank's slice of the global batch,
computes the loss with `gather_distributed=True`, back-propagates, and averages the gradients over ranks as
DDP does (`all_reduce(grad) / world`). The single-process run of the same case is the reference: loss and
every parameter gradient must agree. A gather whose backward does not all-reduce (the bug other libraries
shipped) makes the 2-process gradients 1/world of the reference and fails these tests.

Losses whose value is a mean over local rows (InfoNCE, MoCo v3) differ per rank; their rank mean must equal
the reference. Losses over the global batch (Barlow Twins, VICReg) must equal it on every rank.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from helpers import DATA_ROOT, REPO
from torch import nn

from vision_ssl.losses import DINOLoss, barlow_twins_loss, info_nce, lejepa_loss, moco_v3_loss, vicreg_loss
from vision_ssl.methods import SimCLR
from vision_ssl.methods.step import Views
from vision_ssl.utils import distributed

WORLD, GLOBAL_BATCH = 2, 8


def _rank_slice(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[0] // distributed.world_size()
    return x[distributed.rank() * n : (distributed.rank() + 1) * n]


def _average_gradients(model: nn.Module) -> None:
    """What DDP does after backward: mean of the gradients over ranks."""
    if distributed.is_distributed():
        for p in model.parameters():
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= distributed.world_size()


def _loss_case(loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 8))
    x1, x2 = torch.randn(GLOBAL_BATCH, 6), torch.randn(GLOBAL_BATCH, 6)
    loss = loss_fn(encoder(_rank_slice(x1)), encoder(_rank_slice(x2)))
    loss.backward()
    _average_gradients(encoder)
    return {"loss": loss.detach(), **{n: p.grad for n, p in encoder.named_parameters()}}


def _moco_v3(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    # Queries carry gradients; keys come from a (here: fixed random) momentum encoder without gradient.
    torch.manual_seed(1)
    teacher = nn.Linear(8, 8)
    k1, k2 = teacher(z1).detach(), teacher(z2).detach()
    return moco_v3_loss(z1, k2, 0.2, True) + moco_v3_loss(z2, k1, 0.2, True)


def _no_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm by Identity. Plain BatchNorm normalises with per-rank statistics, so a
    2-process step differs from a 1-process one by design (not a bug); SyncBatchNorm would remove that, but
    PyTorch supports it on GPUs only, and this test runs on CPU."""
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, nn.Identity())
        else:
            _no_batchnorm(child)
    return module


def _simclr_step() -> dict[str, torch.Tensor]:
    """One full SimCLR training step (SSL loss + online probe, SGD update) through `training_step`."""
    torch.manual_seed(0)
    model = _no_batchnorm(SimCLR(backbone="tiny", backbone_kwargs={"width": 4}, num_classes=3, image_size=8,
                                 proj_hidden_dim=16, proj_output_dim=8, temperature=0.2, gather_distributed=True))
    views = [torch.randn(GLOBAL_BATCH, 3, 8, 8), torch.randn(GLOBAL_BATCH, 3, 8, 8)]
    labels = torch.arange(GLOBAL_BATCH) % 3
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    total = model.training_step((Views([_rank_slice(v) for v in views]), _rank_slice(labels)), 0)["loss"]
    total.backward()
    _average_gradients(model)
    opt.step()
    out = {"loss": total.detach()}
    out.update({f"grad/{n}": p.grad for n, p in model.named_parameters() if p.grad is not None})
    out.update({f"param/{n}": p.detach() for n, p in model.named_parameters()})
    return out


def _lejepa(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    # SIGReg averages the characteristic function over ranks (differentiably); the directions are the same on
    # every rank (one seed), as the method draws them from the global step.
    return lejepa_loss(torch.stack([z1, z2]), 2, lambd=0.5, num_slices=8, generator=torch.Generator().manual_seed(5))[0]


def _dino_case() -> dict[str, torch.Tensor]:
    """DINO's loss and its centre after one update: the centre is the EMA of the teacher mean over all ranks."""
    torch.manual_seed(0)
    student = nn.Linear(6, 8)
    teacher = nn.Linear(6, 8)
    crops = torch.randn(3, GLOBAL_BATCH, 6)
    local = crops[:, distributed.rank() * (GLOBAL_BATCH // distributed.world_size()):][:, : GLOBAL_BATCH // distributed.world_size()]
    criterion = DINOLoss(8, center_momentum=0.5)
    criterion.center.fill_(0.1)
    loss = criterion(teacher(local[:2]).detach(), student(local), epoch=0.0)
    loss.backward()
    _average_gradients(student)
    return {"loss": loss.detach(), "center": criterion.center.clone(),
            **{n: p.grad for n, p in student.named_parameters()}}


CASES: dict[str, Callable[[], dict[str, torch.Tensor]]] = {
    "info_nce": lambda: _loss_case(lambda a, b: info_nce(a, b, 0.2, gather_distributed=True)),
    "barlow_twins": lambda: _loss_case(lambda a, b: barlow_twins_loss(a, b, 0.05, gather_distributed=True)),
    "vicreg": lambda: _loss_case(lambda a, b: vicreg_loss(a, b, gather_distributed=True)),
    "moco_v3": lambda: _loss_case(_moco_v3),
    "simclr_step": _simclr_step,
    "lejepa": lambda: _loss_case(_lejepa),
    "dino_centre": _dino_case,
}


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        results = {name: case() for name, case in CASES.items()}
        for r in results.values():  # rank-mean of the loss (equal on every rank for global-batch losses)
            r["loss_mean"] = r["loss"].clone()
            dist.all_reduce(r["loss_mean"])
            r["loss_mean"] /= WORLD
        torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_process_results(tmp_path_factory) -> list[dict[str, dict[str, torch.Tensor]]]:
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(_free_port(), str(out)), nprocs=WORLD, join=True)
    return [torch.load(out / f"rank{r}.pt") for r in range(WORLD)]


@pytest.mark.parametrize("case", list(CASES))
def test_two_processes_equal_one(case, two_process_results):
    assert not distributed.is_distributed()
    reference = CASES[case]()  # this process: world size 1, the whole batch of 2N
    for rank, results in enumerate(two_process_results):
        got = results[case]
        torch.testing.assert_close(got["loss_mean"], reference["loss"], rtol=1e-5, atol=1e-6,
                                   msg=lambda m, r=rank: f"{case} rank {r} loss: {m}")
        if case in ("barlow_twins", "vicreg"):  # global-batch losses: the same value on every rank
            torch.testing.assert_close(got["loss"], reference["loss"], rtol=1e-5, atol=1e-6)
        keys = [k for k in reference if k != "loss"]
        assert keys and set(keys) <= set(got)
        for k in keys:
            torch.testing.assert_close(got[k], reference[k], rtol=1e-4, atol=1e-6,
                                       msg=lambda m, r=rank, k=k: f"{case} rank {r} {k}: {m}")


def test_lightning_ddp_through_the_cli(tmp_path):
    """`vision-ssl fit` with Lightning's own DDP strategy on 2 CPU processes (the GPU code path)."""
    cmd = [sys.executable, "-m", "vision_ssl.cli", "fit", "-c", str(REPO / "configs" / "barlow_twins_fashion_mnist.yaml"),
           "--trainer.accelerator=cpu", "--trainer.devices=2", "--trainer.strategy=ddp", "--trainer.fast_dev_run=2",
           "--trainer.logger.init_args.save_dir", str(tmp_path), "--checkpoint.dirpath", str(tmp_path / "ckpt"),
           "--model.init_args.backbone=tiny", "--model.init_args.cifar_stem=false",
           "--model.init_args.backbone_kwargs={width: 8}", "--model.init_args.proj_hidden_dim=64",
           "--model.init_args.proj_output_dim=64", "--data.init_args.root", DATA_ROOT,
           "--data.init_args.num_workers=0", "--data.init_args.max_train_samples=256", "--data.init_args.batch_size=16"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in proc.stderr + proc.stdout
    assert Path(tmp_path / "ckpt" / "last.ckpt").is_file()
