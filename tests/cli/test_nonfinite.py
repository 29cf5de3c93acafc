"""A diverging run stops with the non-finite message, through the CLI, and keeps only finite checkpoints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from helpers import DATA_ROOT, REPO

DIVERGE = ["fit", "--config", "configs/demo.yaml", "--model.init_args.optimizer.init_args.lr=1e30",
           "--trainer.max_epochs", "1", "--trainer.accelerator", "cpu", "--data.init_args.root", DATA_ROOT,
           "--data.init_args.max_train_samples", "512", "--data.init_args.batch_size", "64"]


def test_diverging_demo_stops_with_one_clear_line_and_no_traceback(tmp_path: Path) -> None:
    args = DIVERGE + ["--trainer.logger.init_args.save_dir", str(tmp_path), "--checkpoint.dirpath", str(tmp_path / "ck"),
                      "--last_checkpoint.every_n_train_steps", "1"]
    out = subprocess.run([sys.executable, "-m", "vision_ssl.cli", *args], cwd=REPO, capture_output=True, text=True,
                         env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}, timeout=300)
    assert out.returncode == 1, out.stderr[-2000:]
    assert "vision-ssl: error: non-finite loss at global step" in out.stderr
    assert "Traceback" not in out.stderr and "LinAlgError" not in out.stderr
    for ckpt in (tmp_path / "ck").glob("*.ckpt"):  # what was written before the bad step is finite
        state = torch.load(ckpt, weights_only=False, map_location="cpu")["state_dict"]
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()), ckpt

