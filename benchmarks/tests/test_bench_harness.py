"""The benchmark entry points in their smoke modes: accuracy (trains through `vision-ssl fit` on the configs,
scores, resumes per pair and mid-run) and parity (vision_ssl through the CLI, lightly's loop when lightly is
installed); every entry point answers --help."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from benchmarks import accuracy, parity
from benchmarks.lib import budget_report, budget_runs
from benchmarks.lib.curves import CurveKNN
from tests.helpers import DATA_ROOT, REPO, recipe

SCORES = ("linear_top1", "knn_top1", "finetune10_top1")
ENTRY_POINTS = ("speed", "accuracy", "parity", "video", "gpu_check")


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_every_entry_point_has_help(name):
    proc = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "usage:" in proc.stdout, proc.stderr[-2000:]


def test_accuracy_smoke_trains_the_config_writes_results_and_skips_finished_pairs(tmp_path, monkeypatch):
    out, ckpt = tmp_path / "full", tmp_path / "ckpt"
    argv = ["--budget", "smoke", "--runs", "simclr@0", "random:simclr@0", "--out", str(out), "--ckpt-dir", str(ckpt),
            "--root", DATA_ROOT]
    records = accuracy.main(argv)
    assert [(r["method"], r["seed"]) for r in records] == [("simclr", 0), ("random:simclr", 0)]
    for r in records:
        assert all(0.0 <= r[k] <= 1.0 for k in SCORES), r
        assert r["train_samples"] == 512 and "--runs" in r["command"] and r["wall_s"] > 0
    assert records[0]["config"] == "configs/simclr_fashion_mnist.yaml"
    assert len(records[0]["curve"]) == 2 and len(records[1]["curve"]) == 1  # epochs 0, 1; untrained: epoch 0
    assert (ckpt / "simclr_seed0_smoke_e1_n512_w16" / "last.ckpt").is_file()
    saved = json.loads(out.with_suffix(".json").read_text())
    assert len(saved["records"]) == 2 and out.with_suffix(".png").stat().st_size > 0
    assert "| simclr |" in out.with_suffix(".md").read_text()

    def must_not_run(*a, **k):
        raise AssertionError("a finished (method, seed) ran again")

    monkeypatch.setattr(accuracy, "run_one", must_not_run)
    assert len(accuracy.main(argv)) == 2
    assert all(r["finetune10_backbone_lr_scale"] in (0.1, 1.0) for r in records)
    assert all(r["load_avg_mean"] > 0 and r["load_avg_max"] >= r["load_avg_mean"] for r in records)
    assert "load while it ran" in out.with_suffix(".md").read_text()


def test_accuracy_processes_sharing_one_table_keep_each_others_rows(tmp_path, monkeypatch):
    """Two campaign threads write one JSON: a row another process wrote while this one trained survives."""
    out = tmp_path / "full"
    argv = ["--budget", "smoke", "--out", str(out), "--root", DATA_ROOT]

    def fake(method, seed, args, cache):
        return {"method": method, "seed": seed, "backbone": "tiny", "epochs": 1, "train_samples": 512,
                "linear_top1": 0.5, "knn_top1": 0.4, "finetune10_top1": None, "wall_s": 1.0, "command": "c"}

    def other_process_writes_meanwhile(method, seed, args, cache):
        if method == "simclr":  # while this process "trains" simclr, another finishes byol into the same table
            monkeypatch.setattr(accuracy, "run_one", fake)
            accuracy.main([*argv, "--runs", "byol@0"])
        return fake(method, seed, args, cache)

    monkeypatch.setattr(accuracy, "run_one", other_process_writes_meanwhile)
    accuracy.main([*argv, "--runs", "simclr@0"])
    saved = json.loads(out.with_suffix(".json").read_text())["records"]
    assert sorted((r["method"], r["seed"]) for r in saved) == [("byol", 0), ("simclr", 0)]


def test_accuracy_training_resumes_mid_run_like_an_unbroken_run(tmp_path, monkeypatch, one_thread):
    config, overrides = accuracy.recipe("simclr", accuracy.parse_args(
        ["--budget", "smoke", "--epochs", "2", "--root", DATA_ROOT]))

    def run(ckpt_dir):
        return budget_runs.train(config, overrides, 0, str(ckpt_dir), curve_bank=256)[2]

    unbroken = run(tmp_path / "a")
    start = CurveKNN.on_train_epoch_start

    def killed_in_epoch_2(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            raise RuntimeError("killed")  # like a kill: the run stops without its final checkpoint
        start(self, trainer, pl_module)

    monkeypatch.setattr(CurveKNN, "on_train_epoch_start", killed_in_epoch_2)
    with pytest.raises(RuntimeError, match="killed"):
        run(tmp_path / "b")
    monkeypatch.setattr(CurveKNN, "on_train_epoch_start", start)
    resumed = run(tmp_path / "b")
    assert resumed["resumed_at_epoch"] == 1
    assert resumed["curve"] == pytest.approx(unbroken["curve"], abs=1e-6)
    assert len(resumed["epoch_s"]) == 2


@pytest.mark.parametrize("method", ["simclr", "byol"])
def test_peer_parity_smoke(tmp_path, method):
    impls = ["vision_ssl", "lightly"] if parity.lightly_available() else ["vision_ssl"]
    records = parity.main(["--smoke", "--methods", method, "--impls", *impls, "--out", str(tmp_path / "p"),
                                "--run-dir", str(tmp_path / "runs"), "--root", DATA_ROOT])
    assert [r["impl"] for r in records] == impls
    for r in records:
        assert r["method"] == method and r["seed"] == 0 and r["train_samples"] == 512
        assert 0.0 <= r["knn_top1"] <= 1.0 and 0.0 <= r["linear_top1"] <= 1.0
        assert r["wall_s"] > 0 and r["images_per_s"] > 0 and r["load_avg_max"] >= r["load_avg_mean"] > 0
    table = (tmp_path / "p.md").read_text()
    assert "| load |" in table
    assert all(f"| {method} | {impl} |" in table for impl in impls)


def test_peer_parity_sides_start_from_the_same_backbone():
    """Same seed, same recipe: the lightly loop's backbone starts from the weights the vision_ssl run starts from."""
    from benchmarks.lib.parity_recipes import RECIPES, vision_ssl_config
    from vision_ssl.backbones import create_backbone

    r = RECIPES["simclr"]
    cfg = vision_ssl_config("simclr", r, 3, DATA_ROOT, "unused")
    assert cfg["model"]["init_args"]["backbone_kwargs"] == r.backbone_kwargs and cfg["seed_everything"] == 3
    ours = recipe("simclr", extra_args=["--seed_everything", "3"])[0].backbone  # the run's own seeding
    torch.manual_seed(3)
    theirs = create_backbone(r.backbone, in_chans=3, **r.backbone_kwargs)
    for a, b in zip(ours.state_dict().values(), theirs.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_supervised_twin_trains_labels_on_the_methods_own_backbone():
    """`supervised:mae` is the supervised config on MAE's ViT with MAE's optimiser settings, not the conv net."""
    from vision_ssl import recipes

    config, overrides = accuracy.recipe("supervised:mae", accuracy.parse_args(["--root", DATA_ROOT]))
    assert config.endswith("supervised_fashion_mnist.yaml")
    mae = recipes.load("mae")["model"]["init_args"]
    assert overrides[overrides.index("--model.init_args.backbone") + 1] == mae["backbone"]
    assert json.loads(overrides[overrides.index("--model.init_args.optimizer") + 1]) == mae["optimizer"]
    assert accuracy.parse_run("supervised:mae@2") == ("supervised:mae", 2)
    plan = accuracy.default_plan()  # the campaign runs MAE's own supervised row right after it
    assert plan[plan.index("mae@0") + 1] == "supervised:mae@0"
    with pytest.raises(SystemExit, match="supervised:<method>"):
        accuracy.parse_run("supervised:nope@0")


def test_set_overrides_reach_the_cli_and_key_the_record():
    """`--set proj_hidden_dim=2048` becomes a `vision-ssl fit` override, under its own checkpoint folder and record
    key; a malformed pair is refused by name."""
    args = accuracy.parse_args(["--set", "proj_hidden_dim=2048", "augment.init_args.crop_scale=[0.4,1.0]"])
    assert args.set == {"proj_hidden_dim": 2048, "augment.init_args.crop_scale": [0.4, 1.0]}
    _, overrides = accuracy.recipe("vicreg", args)
    assert overrides[-4:] == ["--model.init_args.proj_hidden_dim", "2048",
                              "--model.init_args.augment.init_args.crop_scale", "[0.4, 1.0]"]
    assert "proj_hidden_dim2048" in accuracy.run_dir(args, "vicreg", 0)
    record = {"method": "vicreg", "seed": 0, "epochs": 20, "train_samples": 54000, "width": 16}
    assert not accuracy.budget_of(record, args, 54000)
    assert accuracy.budget_of({**record, "overrides": args.set}, args, 54000)
    with pytest.raises(SystemExit):
        accuracy.parse_args(["--set", "proj_hidden_dim"])


def test_a_resumed_rows_wall_time_counts_its_earlier_processes():
    unbroken = {"wall_s": 600.0, "train_s": 500.0, "eval_probe_knn_s": 30.0, "eval_finetune_s": 50.0}
    assert budget_report.run_wall_s(unbroken) == 600.0
    resumed = {**unbroken, "wall_s": 200.0, "resumed_at_epoch": 14}  # the last process only ran the tail
    assert budget_report.run_wall_s(resumed) == 580.0
    summary = budget_report.summarise([{**resumed, "method": "m", "seed": 0, "backbone": "b", "epochs": 2,
                                        "train_samples": 8, "linear_top1": 0.5, "knn_top1": 0.5,
                                        "finetune10_top1": None, "command": "c"}], ["m"])
    assert summary[0]["wall_min"] == pytest.approx(580.0 / 60)
