"""`make demo`'s path (`python -m vision_ssl.demo --config configs/demo.yaml`) end to end on a small budget: the
pretrained encoder against its own random initial weights, with the same probe."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vision_ssl.demo import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / "data" / "FashionMNIST").is_dir(), reason="needs Fashion-MNIST in data/ (make data)")
def test_demo_pretrains_and_compares_with_its_random_twin(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # configs/ and data/ as `make demo` sees them
    out = main(["--config", "configs/demo.yaml", "--probe-epochs", "30", "--trainer.max_epochs", "4",
                "--data.init_args.max_train_samples", "4096", f"--trainer.logger.init_args.save_dir={tmp_path}",
                f"--checkpoint.dirpath={tmp_path / 'ckpt'}"])
    printed = capsys.readouterr().out
    assert "SimCLR-pretrained encoder" in printed and "same encoder, random init" in printed
    assert out["images_per_s"] > 0 and os.path.isfile(tmp_path / "ckpt" / "last.ckpt")
    # measured: 0.7256 against 0.6836 on the 1024 held-out images (4 epochs over 4096 images, seed 0)
    assert out["pretrained"] > out["random"] + 0.02, out
