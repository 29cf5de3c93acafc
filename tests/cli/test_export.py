"""`vision-ssl export` writes the backbone alone; it loads strictly into timm / create_backbone and computes the
same features as the trained model."""

from __future__ import annotations

import subprocess
import sys

import pytest
import timm
import torch
from helpers import quiet_trainer

from vision_ssl.backbones import create_backbone
from vision_ssl.cli import main
from vision_ssl.data import FakeDataModule
from vision_ssl.methods import SimCLR


def _checkpoint(tmp_path, **model_kw) -> tuple[SimCLR, str]:
    model = SimCLR(proj_hidden_dim=16, proj_output_dim=8, image_size=16, num_classes=4, **model_kw)
    trainer = quiet_trainer(max_steps=1, limit_val_batches=0)
    trainer.fit(model, FakeDataModule(num_samples=32, image_size=16, batch_size=8, num_workers=0))
    path = str(tmp_path / "model.ckpt")
    trainer.save_checkpoint(path)
    return model.eval(), path


@pytest.mark.parametrize("model_kw,build", [
    (dict(backbone="resnet18"), lambda: timm.create_model("resnet18", num_classes=0)),
    (dict(backbone="resnet18", cifar_stem=True), lambda: create_backbone("resnet18", cifar_stem=True)),
    (dict(backbone="tiny", backbone_kwargs={"width": 4}), lambda: create_backbone("tiny", width=4)),
], ids=["timm", "cifar_stem", "tiny"])
def test_export_round_trip(tmp_path, capsys, model_kw, build):
    model, ckpt = _checkpoint(tmp_path, **model_kw)
    out = str(tmp_path / "backbone.pt")
    main(["export", ckpt, "--out", out])
    assert "load it with:" in capsys.readouterr().out
    fresh = build().eval()
    fresh.load_state_dict(torch.load(out), strict=True)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(fresh(x), model.backbone(x), atol=1e-5)


def test_export_rejects_other_files(tmp_path):
    bad = tmp_path / "weights.pt"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    proc = subprocess.run([sys.executable, "-m", "vision_ssl.cli", "export", str(bad), "--out", str(tmp_path / "o.pt")],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "state_dict" in proc.stderr and "Traceback" not in proc.stderr
