"""Pretraining without labels: every image method's config trains on unlabelled data (no online probe, no
`probe_top1`), checkpointing falls back to `last.ckpt`, and a labelled evaluation set given apart from the
pretraining data drives `val/knn_top1` and `val/probe_top1`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import cli_args_for
from sample_files import write_photos

from vision_ssl.cli import build_cli, main
from vision_ssl.data import FakeDataModule
from vision_ssl.methods import SimCLR, Supervised

REPO = Path(__file__).resolve().parents[2]
IMAGE_CONFIGS = sorted(p for p in (REPO / "configs").glob("*_fashion_mnist.yaml") if "supervised" not in p.name)
UNLABELLED = ["--data", "vision_ssl.data.FakeDataModule", "--data.init_args.num_samples", "64",
              "--data.init_args.num_classes", "0", "--data.init_args.num_workers", "0"]
TINY_SIMCLR = ["--model=vision_ssl.methods.SimCLR", "--model.backbone=tiny", "--model.backbone_kwargs={width: 4}",
               "--model.proj_hidden_dim=16", "--model.proj_output_dim=8", "--model.warmup_epochs=0",
               "--trainer.accelerator=cpu", "--trainer.max_epochs=2", "--trainer.enable_progress_bar=false",
               "--trainer.enable_model_summary=false", "--trainer.log_every_n_steps=1"]


def _scalars(log_dir: Path) -> set[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags: set[str] = set()
    for events in log_dir.rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    return tags


@pytest.mark.parametrize("config", IMAGE_CONFIGS, ids=lambda p: p.stem)
def test_every_image_config_pretrains_without_labels(config, tmp_path):
    args = cli_args_for(config, tmp_path)
    cut = args.index("--data") if "--data" in args else args.index("--data.init_args.root")
    size = next((args[i + 1] for i in range(len(args) - 1) if args[i] == "--data.init_args.image_size"), "28")
    cli = build_cli(args[:cut] + UNLABELLED + ["--data.init_args.image_size", size, "--data.init_args.batch_size", "16"])
    tags = set(cli.trainer.callback_metrics)  # fast_dev_run logs nothing to TensorBoard
    assert "train/loss" in tags and cli.model.probe is None
    assert not {t for t in tags if "probe" in t}, f"unlabelled data must log no probe metric, got {sorted(tags)}"


def test_label_free_run_keeps_last_checkpoint_only(tmp_path):
    main(["fit", *TINY_SIMCLR, *UNLABELLED, "--data.init_args.image_size=16", "--data.init_args.batch_size=8",
          f"--trainer.logger.init_args.save_dir={tmp_path}", f"--checkpoint.dirpath={tmp_path / 'ckpt'}"])
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["last.ckpt"]
    ckpt = torch.load(tmp_path / "ckpt" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["hyper_parameters"]["num_classes"] == 0
    assert not any(k.startswith("probe.") for k in ckpt["state_dict"]), "no probe weights without labels"
    assert {"val/rankme", "train/loss"} <= _scalars(tmp_path)


def test_labelled_evaluation_set_drives_knn_probe_and_selection(tmp_path):
    main(["fit", *TINY_SIMCLR, *UNLABELLED, "--data.init_args.image_size=16", "--data.init_args.batch_size=8",
          "--monitor.eval_data=vision_ssl.data.FakeDataModule", "--monitor.eval_data.num_samples=96",
          "--monitor.eval_data.num_classes=4", "--monitor.eval_data.image_size=24", "--monitor.eval_data.seed=5",
          "--monitor.probe_epochs=5", f"--trainer.logger.init_args.save_dir={tmp_path}",
          f"--checkpoint.dirpath={tmp_path / 'ckpt'}"])
    tags = _scalars(tmp_path)
    assert {"val/knn_top1", "val/probe_top1"} <= tags
    assert not {"train/probe_top1", "train/probe_loss"} & tags
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert "last.ckpt" in names and any(n.startswith("best-epoch") for n in names), names


def test_monitor_scores_equal_the_offline_protocols():
    from vision_ssl.eval.features import extract_splits
    from vision_ssl.eval.linear_probe import probe_features
    from vision_ssl.eval.monitor import ValidationMonitor
    from vision_ssl.metrics.knn import knn_top1

    dm = FakeDataModule(num_samples=400, num_classes=4, image_size=16, batch_size=32)
    monitor = ValidationMonitor(eval_data=dm, probe_epochs=20, k=10)
    model = SimCLR(backbone="tiny", backbone_kwargs={"width": 8}, image_size=16, num_classes=0).eval()
    monitor.setup(None, model, "fit")  # type: ignore[arg-type]
    scores = monitor.evaluate(model)
    feats = extract_splits(model.backbone, model.normalize, dm)
    assert scores["knn_top1"] == knn_top1(*feats["train"], *feats["val"], 4, 10, 0.07)
    assert scores["probe_top1"] == probe_features(feats, 4, lrs=(1e-2,), epochs=20)["val_top1"]
    assert scores["knn_top1"] > 0.4 and scores["probe_top1"] > 0.4, scores  # 4 classes of distinct colours: chance 0.25


def test_eval_data_must_be_labelled():
    from vision_ssl.eval.monitor import ValidationMonitor

    with pytest.raises(ValueError, match="eval_data must be labelled"):
        ValidationMonitor(eval_data=FakeDataModule(num_classes=0))


def test_supervised_refuses_unlabelled_data():
    with pytest.raises(ValueError, match="Supervised is trained on labels, but the data has none"):
        Supervised(backbone="tiny", num_classes=0)


def test_forced_num_classes_with_unlabelled_data_is_refused():
    import lightning as L

    model = SimCLR(backbone="tiny", backbone_kwargs={"width": 4}, image_size=16, num_classes=10)
    dm = FakeDataModule(num_samples=32, num_classes=0, image_size=16, batch_size=8, num_workers=0)
    trainer = L.Trainer(max_steps=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    with pytest.raises(ValueError, match="num_classes=10 but FakeDataModule has no labels"):
        trainer.fit(model, dm)


@pytest.fixture(scope="module")
def label_free_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("label_free")
    main(["fit", *TINY_SIMCLR, *UNLABELLED, "--data.init_args.image_size=16", "--data.init_args.batch_size=8",
          "--trainer.max_epochs=1", f"--trainer.logger.init_args.save_dir={out}", f"--checkpoint.dirpath={out / 'ckpt'}"])
    return str(out / "ckpt" / "last.ckpt")


@pytest.mark.parametrize("command", [
    ["probe", "--epochs", "2"], ["knn", "--k", "5"], ["finetune", "--epochs", "1", "--label-fractions", "1"],
    ["report", "--probe-epochs", "2", "--projector-samples", "0", "--rankme-samples", "16", "--k", "5"],
], ids=lambda c: c[0])
def test_evaluators_take_a_label_free_checkpoint_with_named_data(command, label_free_checkpoint, tmp_path, capsys):
    name, *options = command
    extra = ["--out", str(tmp_path / "report")] if name == "report" else []
    with pytest.raises(ValueError, match="has no labels .*name a labelled dataset to evaluate on with --data"):
        main([name, label_free_checkpoint, *options, *extra])
    main([name, label_free_checkpoint, "--data", "fake", *options, *extra])
    assert "top-1" in capsys.readouterr().out.lower() or (tmp_path / "report" / "report.md").is_file()


# 40 noise photos for one epoch of 5 steps: the collapse monitor rightly warns, which is not what this test is about
@pytest.mark.filterwarnings("ignore:Embeddings collapsed:UserWarning")
def test_the_issue_flow_photos_to_shards_to_fit(tmp_path, capsys):
    """`vision-ssl prepare-data photos shards`, then the demo config on the shards, as a new user ran it."""
    write_photos(tmp_path / "photos", n=40)
    main(["prepare-data", str(tmp_path / "photos"), str(tmp_path / "shards")])
    main(["fit", "-c", str(REPO / "configs" / "demo.yaml"),
          "--data", "vision_ssl.data.StreamingImageDataModule", "--data.init_args.root", str(tmp_path / "shards"),
          "--data.init_args.batch_size", "8", "--data.init_args.image_size", "24", "--trainer.max_epochs", "1",
          "--trainer.enable_progress_bar", "false", f"--trainer.logger.init_args.save_dir={tmp_path}",
          f"--checkpoint.dirpath={tmp_path / 'ckpt'}"])
    ckpt = torch.load(tmp_path / "ckpt" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["hyper_parameters"]["num_classes"] == 0
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["last.ckpt"]
