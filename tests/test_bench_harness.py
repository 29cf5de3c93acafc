"""The issue-12 benchmark harnesses in their smoke modes: full_budget (train, score, resume per pair and mid-run)
and peer_parity (vision_ssl through the CLI, lightly's loop when lightly is installed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from helpers import DATA_ROOT, fashion_mnist

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import budget_runs  # noqa: E402
import full_budget  # noqa: E402
import peer_parity  # noqa: E402
from common import build_method  # noqa: E402

SCORES = ("linear_top1", "knn_top1", "finetune10_top1")


def test_full_budget_smoke_writes_results_and_skips_finished_pairs(tmp_path, monkeypatch):
    out, ckpt = tmp_path / "full", tmp_path / "ckpt"
    argv = ["--smoke", "--runs", "simclr@0", "random:simclr@0", "--out", str(out), "--ckpt-dir", str(ckpt),
            "--root", DATA_ROOT]
    records = full_budget.main(argv)
    assert [(r["method"], r["seed"]) for r in records] == [("simclr", 0), ("random:simclr", 0)]
    for r in records:
        assert all(0.0 <= r[k] <= 1.0 for k in SCORES), r
        assert r["train_samples"] == 512 and "--runs" in r["command"] and r["wall_s"] > 0
    assert len(records[0]["curve"]) == 2 and len(records[1]["curve"]) == 1  # epochs 0, 1; untrained: epoch 0
    assert (ckpt / "simclr_seed0_e1_n512_w16" / "last.ckpt").is_file()
    saved = json.loads(out.with_suffix(".json").read_text())
    assert len(saved["records"]) == 2 and out.with_suffix(".png").stat().st_size > 0
    assert "| simclr |" in out.with_suffix(".md").read_text()

    def must_not_run(*a, **k):
        raise AssertionError("a finished (method, seed) ran again")

    monkeypatch.setattr(full_budget, "run_one", must_not_run)
    assert len(full_budget.main(argv)) == 2
    # Fine-tune at the val-chosen backbone lr; re-scoring an old record from its checkpoint gives the same numbers.
    assert all(r["finetune10_backbone_lr_scale"] in (0.1, 1.0) for r in records)
    for r in saved["records"]:
        del r["finetune10_backbone_lr_scale"]
        r["finetune10_top1"] = -1.0  # the old protocol's number, kept as finetune10_top1_scale0.1
    out.with_suffix(".json").write_text(json.dumps(saved))
    rescored = full_budget.main([*argv, "--rescore-finetune"])
    for old, new in zip(records, rescored, strict=True):
        assert new["finetune10_top1"] == old["finetune10_top1"] and new["finetune10_top1_scale0.1"] == -1.0
        assert new["finetune10_by_scale"] == old["finetune10_by_scale"]


def test_full_budget_training_resumes_mid_run_like_an_unbroken_run(tmp_path, monkeypatch, one_thread):
    dm = fashion_mnist(512, batch_size=128)
    dm.setup("fit")

    def run(ckpt_dir: Path) -> dict:
        L.seed_everything(0, verbose=False)
        return budget_runs.train(build_method("simclr"), dm, 2, str(ckpt_dir), curve_bank=256)

    unbroken = run(tmp_path / "a")
    start = budget_runs.CurveKNN.on_train_epoch_start

    def killed_in_epoch_2(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            raise RuntimeError("killed")  # like a kill: the run stops without its final checkpoint
        start(self, trainer, pl_module)

    monkeypatch.setattr(budget_runs.CurveKNN, "on_train_epoch_start", killed_in_epoch_2)
    with pytest.raises(RuntimeError, match="killed"):
        run(tmp_path / "b")
    monkeypatch.setattr(budget_runs.CurveKNN, "on_train_epoch_start", start)
    resumed = run(tmp_path / "b")
    assert resumed["resumed_at_epoch"] == 1
    assert resumed["curve"] == pytest.approx(unbroken["curve"], abs=1e-6)
    assert len(resumed["epoch_s"]) == 2


@pytest.mark.parametrize("method", ["simclr", "byol"])
def test_peer_parity_smoke(tmp_path, method):
    impls = ["vision_ssl", "lightly"] if peer_parity.lightly_available() else ["vision_ssl"]
    records = peer_parity.main(["--smoke", "--methods", method, "--impls", *impls, "--out", str(tmp_path / "p"),
                                "--run-dir", str(tmp_path / "runs"), "--root", DATA_ROOT])
    assert [r["impl"] for r in records] == impls
    for r in records:
        assert r["method"] == method and r["seed"] == 0 and r["train_samples"] == 512
        assert 0.0 <= r["knn_top1"] <= 1.0 and 0.0 <= r["linear_top1"] <= 1.0
        assert r["wall_s"] > 0 and r["images_per_s"] > 0
    table = (tmp_path / "p.md").read_text()
    assert all(f"| {method} | {impl} |" in table for impl in impls)


def test_peer_parity_sides_start_from_the_same_backbone():
    """Same seed, same recipe: the lightly loop's backbone starts from the weights the vision_ssl run starts from."""
    from parity_recipes import RECIPES, vision_ssl_config

    from vision_ssl.backbones import create_backbone

    r = RECIPES["simclr"]
    cfg = vision_ssl_config("simclr", r, 3, DATA_ROOT, "unused")
    assert cfg["model"]["init_args"]["backbone_kwargs"] == r.backbone_kwargs and cfg["seed_everything"] == 3
    L.seed_everything(3, verbose=False)
    ours = build_method("simclr").backbone
    torch.manual_seed(3)
    theirs = create_backbone(r.backbone, in_chans=3, **r.backbone_kwargs)
    for a, b in zip(ours.state_dict().values(), theirs.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_supervised_twin_trains_labels_on_the_methods_own_backbone():
    """`supervised:mae` is the supervised baseline on MAE's ViT with MAE's optimiser settings, not the conv net."""
    from vision_ssl.methods.supervised import Supervised

    twin, mae = full_budget.network("supervised:mae", 16), full_budget.network("mae", 16)
    assert isinstance(twin, Supervised) and twin.hparams.backbone == mae.hparams.backbone
    assert {**twin.hparams.backbone_kwargs, "img_size": 28} == {**mae.hparams.backbone_kwargs, "img_size": 28}
    assert [p.shape for p in twin.backbone.parameters()] == [p.shape for p in mae.backbone.parameters()]
    group = twin.optimizer_factory([{"params": [torch.zeros(1, requires_grad=True)]}]).param_groups[0]
    assert group["weight_decay"] == 0.05 and group["lr"] == 1e-3
    assert full_budget.parse_run("supervised:mae@2") == ("supervised:mae", 2)
    plan = full_budget.default_plan()  # the campaign runs MAE's own supervised row right after it
    assert plan[plan.index("mae@0") + 1] == "supervised:mae@0"
    with pytest.raises(SystemExit, match="supervised:<method>"):
        full_budget.parse_run("supervised:nope@0")


def test_crop_scale_variant_is_applied_kept_apart_and_refused_where_views_are_the_methods_own():
    """`--crop-scale` changes the crop of SimCLR-view methods (and the supervised twin), names its own checkpoint folder
    and never counts as the default recipe's record; pretexts and multi-crop methods make their own views."""
    assert full_budget.network("vicreg", 16, (0.4, 1.0)).augment.options["crop_scale"] == (0.4, 1.0)
    assert full_budget.network("vicreg", 16).augment.options["crop_scale"] == (0.2, 1.0)
    assert full_budget.network("supervised", 16, (0.4, 1.0)).augment.options["crop_scale"] == (0.4, 1.0)
    for own_views in ("rotation", "dino", "mae"):
        with pytest.raises(SystemExit, match="own views"):
            full_budget.network(own_views, 16, (0.4, 1.0))
    default, variant = full_budget.parse_args([]), full_budget.parse_args(["--crop-scale", "0.4", "1"])
    assert full_budget.run_dir(default, "vicreg", 0, 54000) != full_budget.run_dir(variant, "vicreg", 0, 54000)
    record = {"method": "vicreg", "seed": 0, "epochs": 20, "train_samples": 54000, "width": 16}
    assert full_budget.budget_of(record, default, 54000) and not full_budget.budget_of(record, variant, 54000)
    assert full_budget.budget_of({**record, "crop_scale": [0.4, 1.0]}, variant, 54000)


def test_set_overrides_reach_the_method_and_key_the_record():
    """`--set proj_hidden_dim=2048` builds the method with that argument, under its own checkpoint folder and record key;
    a malformed pair is refused by name."""
    args = full_budget.parse_args(["--set", "proj_hidden_dim=2048", "proj_output_dim=1024"])
    assert args.set == {"proj_hidden_dim": 2048, "proj_output_dim": 1024}
    model = full_budget.network("vicreg", 16, None, args.set)
    assert (model.hparams.proj_hidden_dim, model.hparams.proj_output_dim) == (2048, 1024)
    assert "proj_hidden_dim2048" in full_budget.run_dir(args, "vicreg", 0, 54000)
    record = {"method": "vicreg", "seed": 0, "epochs": 20, "train_samples": 54000, "width": 16}
    assert not full_budget.budget_of(record, args, 54000)
    assert full_budget.budget_of({**record, "overrides": args.set}, args, 54000)
    with pytest.raises(SystemExit):
        full_budget.parse_args(["--set", "proj_hidden_dim"])
