"""TensorBoard's learning-rate curves are named by parameter group (backbone, heads, probe), not pg1, pg2."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
import pytest
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.loggers import CSVLogger

from vision_ssl.data import FakeDataModule
from vision_ssl.methods import IJEPA, MAE, SimCLR

SMALL = dict(backbone="tiny", backbone_kwargs={"width": 4}, image_size=16, num_classes=4, proj_hidden_dim=8,
             proj_output_dim=8)
VIT = {"patch_size": 4, "embed_dim": 24, "depth": 1, "num_heads": 2}
CASES = {
    "simclr": (lambda: SimCLR(**SMALL), ["backbone", "heads", "probe"]),
    "mae": (lambda: MAE(image_size=16, num_classes=4, backbone_kwargs=VIT, decoder_dim=16, decoder_depth=1, decoder_heads=2),
            ["backbone", "backbone_no_decay", "heads", "heads_no_decay", "probe"]),
    # I-JEPA's `backbone` is the EMA target (no gradient): no backbone group; the context encoder is a head here.
    "ijepa": (lambda: IJEPA(image_size=16, num_classes=4, backbone="vit_tiny_patch16_224", backbone_kwargs=VIT, predictor_dim=16,
                            predictor_depth=1, predictor_heads=2), ["heads", "heads_no_decay", "probe"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_lr_monitor_logs_one_named_curve_per_group(name: str, tmp_path: Path) -> None:
    build, groups = CASES[name]
    monitor = LearningRateMonitor(logging_interval="step")
    logger = CSVLogger(tmp_path, name="run")
    trainer = L.Trainer(accelerator="cpu", max_steps=2, logger=logger, log_every_n_steps=1, callbacks=[monitor],
                        limit_val_batches=0, num_sanity_val_steps=0, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(build(), FakeDataModule(num_samples=24, image_size=16, batch_size=4, num_workers=0))
    expected = sorted(f"lr-AdamW/{g}" for g in groups)
    assert sorted(monitor.lrs) == expected
    assert all(len(v) == 2 for v in monitor.lrs.values())  # one value per step
    with open(Path(logger.log_dir) / "metrics.csv") as f:  # what the logger wrote (TensorBoard gets the same tags)
        header = next(csv.reader(f))
    assert sorted(k for k in header if k.startswith("lr-")) == expected
