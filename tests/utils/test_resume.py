"""A run killed with SIGKILL mid-epoch resumes with `--ckpt_path last` and continues exactly as an unbroken run:
the same per-step losses (CPU, same seed). Also: checkpoints are written atomically."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import REPO

from vision_ssl.utils.checkpoint import AtomicCheckpointIO

CONFIG = """
seed_everything: 0
trainer:
  accelerator: cpu
  devices: 1
  max_epochs: 2
  log_every_n_steps: 1
  enable_progress_bar: false
  enable_model_summary: false
  logger:
    class_path: lightning.pytorch.loggers.CSVLogger
    init_args: {{save_dir: {logs}, name: run, flush_logs_every_n_steps: 1}}
checkpoint: {{dirpath: {ckpt}}}
last_checkpoint: {{every_n_train_steps: 1}}
model:
  class_path: vision_ssl.methods.SimCLR
  init_args:
    backbone: tiny
    backbone_kwargs: {{width: 4}}
    proj_hidden_dim: 16
    proj_output_dim: 8
    warmup_epochs: 1
data:
  class_path: vision_ssl.data.FakeDataModule
  init_args: {{num_samples: 80, image_size: 16, batch_size: 8, num_workers: 0}}
"""


def _write_config(folder: Path) -> Path:
    path = folder / "config.yaml"
    path.write_text(CONFIG.format(logs=folder / "logs", ckpt=folder / "ckpt"))
    return path


def _cmd(config: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "vision_ssl.cli", "fit", "--config", str(config), *extra]


def _losses(folder: Path) -> dict[int, float]:
    """step -> train/loss over every version (a resumed run logs into a new version folder)."""
    out: dict[int, float] = {}
    for path in sorted((folder / "logs" / "run").glob("version_*/metrics.csv")):
        with open(path) as f:
            for row in csv.DictReader(f):
                if row.get("train/loss"):
                    out[int(row["step"])] = float(row["train/loss"])
    return out


def test_sigkill_mid_epoch_then_resume_matches_unbroken_run(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    unbroken, killed = tmp_path / "unbroken", tmp_path / "killed"
    unbroken.mkdir()
    killed.mkdir()
    subprocess.run(_cmd(_write_config(unbroken)), check=True, env=env, capture_output=True, timeout=300)
    reference = _losses(unbroken)
    steps_per_run = max(reference) + 1
    assert steps_per_run >= 14

    cfg = _write_config(killed)
    kill_at = steps_per_run // 2 + 2  # mid-epoch of the second epoch
    # run_hooks.KillAtStep SIGKILLs the training process itself once step `kill_at`'s last.ckpt is written
    killed_env = {**env, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    proc = subprocess.run(_cmd(cfg, "--trainer.callbacks+=run_hooks.KillAtStep", f"--trainer.callbacks.step={kill_at}"),
                          env=killed_env, capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, f"the run was not killed (exit {proc.returncode}): {proc.stderr[-2000:]}"
    assert torch.load(killed / "ckpt" / "last.ckpt", weights_only=True)["global_step"] == kill_at
    seen_before_kill = len(_losses(killed))
    assert seen_before_kill < steps_per_run

    subprocess.run(_cmd(cfg, "--ckpt_path", "last"), check=True, env=env, capture_output=True, timeout=300)
    resumed = _losses(killed)
    versions = sorted((killed / "logs" / "run").glob("version_*"))
    assert len(versions) == 2
    with open(versions[1] / "metrics.csv") as f:
        first_resumed_step = min(int(r["step"]) for r in csv.DictReader(f) if r.get("train/loss"))
    assert 0 < first_resumed_step < steps_per_run, "the second run must start from the mid-run checkpoint"
    assert first_resumed_step % (steps_per_run // 2) != 0, "the kill must land mid-epoch"
    assert sorted(resumed) == sorted(reference), "the resumed run must cover exactly the unbroken run's steps"
    for step, loss in reference.items():
        assert resumed[step] == pytest.approx(loss, rel=1e-5, abs=1e-6), f"step {step} differs after resume"


def test_atomic_save_keeps_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"step": 1}, path)

    def boom(*args, **kwargs):
        raise KeyboardInterrupt  # a kill arriving in the middle of writing

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"step": 2}, path)
    monkeypatch.undo()
    assert torch.load(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"], "no temporary file may be left behind"
