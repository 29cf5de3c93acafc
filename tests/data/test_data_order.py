"""Every training loader draws a new order each epoch, seeded by (seed, epoch); under DDP the ranks read disjoint parts
that change every epoch too. Lightning's `set_epoch` reaches the sampler whichever way the loader is built."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vision_ssl.data.sampling import EpochSampler

REPO = Path(__file__).resolve().parents[2]


def _fit(tmp_path: Path, *extra: str, in_process: bool = True) -> dict[tuple[int, int], list[int]]:
    """Two epochs of SimCLR on 64 fake images whose labels are their ids; (rank, epoch) -> ids in read order."""
    record = tmp_path / "labels.jsonl"
    args = ["fit", "--model=vision_ssl.methods.SimCLR", "--model.backbone=tiny", "--model.backbone_kwargs={width: 4}",
            "--model.proj_hidden_dim=16", "--model.proj_output_dim=8", "--model.warmup_epochs=0",
            "--data=vision_ssl.data.FakeDataModule", "--data.num_samples=72", "--data.num_classes=72",
            "--data.image_size=16", "--data.batch_size=8", "--data.num_workers=0", "--data.val_fraction=0.1",
            "--trainer.accelerator=cpu", "--trainer.max_epochs=2", "--trainer.limit_val_batches=0",
            "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
            f"--trainer.default_root_dir={tmp_path}", f"--trainer.logger.init_args.save_dir={tmp_path}",
            f"--checkpoint.dirpath={tmp_path / 'ckpt'}",
            "--trainer.callbacks+=run_hooks.RecordLabels", f"--trainer.callbacks.path={record}", *extra]
    if in_process:
        from vision_ssl.cli import main

        main(args)
    else:
        env = {**os.environ, "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
        proc = subprocess.run([sys.executable, "-m", "vision_ssl.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    seen: dict[tuple[int, int], list[int]] = {}
    for line in record.read_text().splitlines():
        row = json.loads(line)
        seen.setdefault((row["rank"], row["epoch"]), []).extend(row["labels"])
    return seen


def test_sampler_order_is_new_every_epoch_and_seeded():
    s = EpochSampler(100, 10, seed=3, batched=True)
    epochs = []
    for epoch in range(3):
        s.set_epoch(epoch)
        epochs.append(list(s))
    assert all(len(e) == 10 and all(len(b) == 10 for b in e) for e in epochs)
    assert epochs[0] != epochs[1] != epochs[2] and epochs[0][0] != epochs[1][0]
    for e in epochs:
        assert sorted(i for b in e for i in b) == list(range(100))
    again = EpochSampler(100, 10, seed=3, batched=True)
    again.set_epoch(1)
    assert list(again) == epochs[1], "the same (seed, epoch) must give the same order"
    other = EpochSampler(100, 10, seed=4, batched=True)
    assert list(other) != epochs[0]


def test_sampler_ranks_are_disjoint_and_change_every_epoch():
    parts = {}
    for epoch in (0, 1):
        for rank in range(3):
            s = EpochSampler(100, 8, seed=0, rank=rank, world_size=3)
            s.set_epoch(epoch)
            parts[rank, epoch] = list(s)
            assert len(s) == len(parts[rank, epoch]) == 33
        union = [i for r in range(3) for i in parts[r, epoch]]
        assert len(set(union)) == len(union) == 99, "ranks must read disjoint parts"
    assert all(set(parts[r, 0]) != set(parts[r, 1]) for r in range(3)), "each rank's part must change every epoch"


def test_sampler_skips_the_batches_a_resumed_run_already_trained_on():
    full = EpochSampler(64, 8, seed=0, batched=True)
    full.set_epoch(1)
    resumed = EpochSampler(64, 8, seed=0, batched=True, skip_batches=lambda: 3)
    resumed.set_epoch(1)
    assert list(resumed) == list(full)[3:]
    flat = EpochSampler(64, 8, seed=0, skip_batches=lambda: 3)
    flat.set_epoch(1)
    assert list(flat) == [i for b in list(full)[3:] for i in b]


def test_sampler_refuses_too_few_samples_per_rank():
    with pytest.raises(ValueError, match="fewer than batch_size=8 per process"):
        EpochSampler(20, 8, seed=0, world_size=3, batched=True)


def test_epochs_differ_through_the_cli(tmp_path):
    seen = _fit(tmp_path)
    e0, e1 = seen[0, 0], seen[0, 1]
    assert len(e0) == len(e1) == 64  # 72 images, 7 carved for validation, 8 full batches
    assert e0[:8] != e1[:8], "the first batch must differ between epochs"
    assert e0 != e1 and sorted(e0) != sorted(e0[:8]) and len(set(e0)) == 64
    assert _fit(tmp_path / "again") == seen, "the same seed must read the same batches"


def test_epochs_differ_across_two_gloo_ranks(tmp_path):
    seen = _fit(tmp_path, "--trainer.devices=2", "--trainer.strategy=ddp", in_process=False)
    assert set(seen) == {(0, 0), (1, 0), (0, 1), (1, 1)}
    for epoch in (0, 1):
        a, b = seen[0, epoch], seen[1, epoch]
        assert len(a) == len(b) == 32 and not set(a) & set(b), "ranks must read disjoint parts of an epoch"
    for rank in (0, 1):
        assert seen[rank, 0][:8] != seen[rank, 1][:8] and set(seen[rank, 0]) != set(seen[rank, 1])


def test_video_and_moving_mnist_loaders_use_the_epoch_sampler(tmp_path):
    from vision_ssl.data.moving_mnist import StochasticMovingMNISTDataModule
    from vision_ssl.data.video import VideoClipDataModule

    for dm in (VideoClipDataModule(root=str(tmp_path)), StochasticMovingMNISTDataModule(root=str(tmp_path))):
        dm.sets = {"train": torch.utils.data.TensorDataset(torch.arange(40))}  # type: ignore[assignment]
        loader = dm.train_dataloader()
        assert isinstance(loader.sampler, EpochSampler)
        loader.sampler.set_epoch(0)
        first = [b[0].tolist() for b in loader]
        loader.sampler.set_epoch(1)
        assert [b[0].tolist() for b in loader] != first
