"""`vision-ssl report` end to end on tiny checkpoints: CSV, markdown with mean ± std over seeds, projector."""

from __future__ import annotations

import csv

import lightning as L
import pytest
from helpers import quiet_trainer

from vision_ssl.cli import main
from vision_ssl.data import FakeDataModule
from vision_ssl.methods import SimCLR

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def tiny_checkpoint(path, seed: int) -> str:  # noqa: ANN001
    L.seed_everything(seed)
    dm = FakeDataModule(num_samples=64, num_classes=4, image_size=16, batch_size=16, num_workers=0)
    model = SimCLR(backbone="tiny", backbone_kwargs={"width": 4}, proj_hidden_dim=16, proj_output_dim=8,
                   num_classes=4, image_size=16, warmup_epochs=0)
    trainer = quiet_trainer(max_epochs=1, limit_val_batches=1)
    trainer.fit(model, dm)
    trainer.save_checkpoint(path)
    return str(path)


def test_report_end_to_end(tmp_path):
    ckpts = [tiny_checkpoint(tmp_path / f"seed{s}.ckpt", s) for s in (0, 1)]
    out = tmp_path / "report"
    main(["report", *ckpts, f"random:{ckpts[0]}", "efficientnet_lite0_package", "--out", str(out),
          "--probe-epochs", "3", "--lrs", "1e-2", "--wds", "0", "1e-2", "--k", "5", "--finetune-epochs", "1",
          "--finetune-fraction", "0.5", "--image-size", "32", "--projector-samples", "12"])
    rows = list(csv.DictReader((out / "report.csv").open()))
    assert [r["method"] for r in rows] == ["SimCLR", "SimCLR", "random weights", "ImageNet supervised"]
    assert [r["seed"] for r in rows[:2]] == ["0", "1"] and rows[0]["epochs"] == "1"
    md = (out / "report.md").read_text()
    simclr = next(line for line in md.splitlines() if line.startswith("| SimCLR"))
    assert "(n=2)" in simclr and simclr.count("±") == 4  # linear, kNN, fine-tune, RankMe over the two seeds
    import statistics

    for key in ("linear_top1", "knn_top1", "finetune_top1"):  # the table is the CSV's two seeds, in %
        vals = [100 * float(r[key]) for r in rows[:2]]
        assert f"{statistics.mean(vals):.2f} ± {statistics.stdev(vals):.2f}" in simclr, key
    assert "| ImageNet supervised | tf_efficientnet_lite0 |" in md and "vision-ssl report" in md
    assert (out / "projector" / "projector_config.pbtxt").is_file()
    sprites = sorted(p.parent.name for p in (out / "projector").rglob("sprite.png"))  # thumbnails, one per encoder
    assert sprites == ["0_SimCLR_tiny_width_4_seed0", "1_SimCLR_tiny_width_4_seed1", "2_random_weights_tiny_width_4_seed0",
                       "3_ImageNet_supervised_tf_efficientnet_lite0_seed"]


def test_evaluator_commands(tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "seed0.ckpt", 0)
    main(["probe", ckpt, "--random-baseline", "--test", "--epochs", "2", "--lrs", "1e-2", "--wds", "0", "1e-2"])
    main(["knn", ckpt, "--random-baseline", "--k", "5"])
    main(["finetune", "efficientnet_lite0_package", "--data-from", ckpt, "--image-size", "32", "--epochs", "1",
          "--label-fractions", "0.5", "--test"])
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0].strip() for line in out[:4]] == ["pretrained", "random weights"] * 2
    assert "linear-probe top-1" in out[0] and "test top-1" in out[1] and "kNN top-1" in out[2]
    assert out[4].startswith("ImageNet supervised tf_efficientnet_lite0, 50% labels") and "test top-1" in out[4]
