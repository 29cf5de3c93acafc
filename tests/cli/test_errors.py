"""Bad input gets a clear error naming the bad value and what is allowed; user errors exit non-zero without a
traceback; a NaN loss stops the run and keeps the last good checkpoint; the same seed gives the same losses."""

from __future__ import annotations

import subprocess
import sys

import lightning as L
import pytest
import torch
from helpers import REPO, quiet_trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from torchvision.io import write_png

from vision_ssl.cli import main
from vision_ssl.data import FakeDataModule, ImageFolderDataModule
from vision_ssl.methods import SimCLR
from vision_ssl.methods.checks import check_batch_size

DEMO = str(REPO / "configs" / "demo.yaml")
FAKE = ["--data", "vision_ssl.data.FakeDataModule", "--data.init_args.num_samples", "64",
        "--data.init_args.image_size", "16", "--data.init_args.batch_size", "8", "--trainer.fast_dev_run", "1"]
TINY = dict(backbone="tiny", backbone_kwargs={"width": 4}, proj_hidden_dim=16, proj_output_dim=8, image_size=16,
            num_classes=4)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vision_ssl.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args,expected", [
    (["--model.init_args.backbone", "resnet81"], ["resnet81", "resnet18"]),
    (["--data.init_args.batch_size", "1", "--data.init_args.num_samples", "64"], ["batch size 1", "at least 2"]),
], ids=["unknown_backbone", "batch_too_small"])
def test_cli_user_errors_exit_nonzero_without_traceback(args, expected, tmp_path):
    proc = _cli("fit", "--config", DEMO, *FAKE, "--trainer.logger", "false", "--checkpoint.dirpath", str(tmp_path), *args)
    assert proc.returncode != 0
    for text in expected:
        assert text in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args,expected", [
    (["--model", "vision_ssl.methods.SimCLRR"], "SimCLRR"),
    (["--data", "vision_ssl.data.FashionMNISTDataModul"], "FashionMNISTDataModul"),
    (["--model.init_args.temprature", "0.1"], "temprature"),
], ids=["unknown_method", "unknown_dataset", "unknown_config_key"])
def test_parser_errors_name_the_bad_value(args, expected, capsys):
    with pytest.raises(SystemExit) as info:
        main(["fit", "--config", DEMO, *args])
    assert info.value.code != 0
    assert expected in capsys.readouterr().err


def test_vit_image_size_not_divisible_by_patch():
    with pytest.raises(ValueError, match="not divisible by the patch size 8"):
        SimCLR(backbone="vit_tiny_patch16_224", backbone_kwargs={"img_size": 28, "patch_size": 8}, image_size=28)


def test_batch_size_check_message():
    with pytest.raises(ValueError, match="batch size 1 is too small for SimCLR"):
        check_batch_size(1, 2, "SimCLR")


def test_checkpoint_of_another_method_is_refused(tmp_path):
    from vision_ssl.methods import BYOL

    model = BYOL(backbone="tiny", backbone_kwargs={"width": 4}, image_size=16, num_classes=4)
    trainer = quiet_trainer(max_steps=1, limit_val_batches=0)
    dm = FakeDataModule(num_samples=32, image_size=16, batch_size=8, num_workers=0)
    trainer.fit(model, dm)
    ckpt = str(tmp_path / "byol.ckpt")
    trainer.save_checkpoint(ckpt)
    with pytest.raises(ValueError, match="written by BYOL but the config.s model is SimCLR"):
        main(["test", "--config", DEMO, *FAKE, "--trainer.logger", "false", "--ckpt_path", ckpt])
    # Loading it directly into another method is refused too (e.g. by an evaluator building SimCLR).
    simclr = SimCLR(backbone="tiny", backbone_kwargs={"width": 4}, image_size=16, num_classes=4)
    with pytest.raises(ValueError, match="written by BYOL but this run is SimCLR"):
        simclr.on_load_checkpoint(torch.load(ckpt, weights_only=False))


def _image_folder(root, corrupt: bool) -> None:
    for split in ("train", "val"):
        for c in ("a", "b"):
            folder = root / split / c
            folder.mkdir(parents=True)
            for i in range(6):
                write_png(torch.full((3, 12, 12), 40 * i, dtype=torch.uint8), str(folder / f"{i}.png"))
    if corrupt:
        (root / "train" / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")


def test_corrupt_image_stops_with_its_path(tmp_path):
    _image_folder(tmp_path, corrupt=True)
    dm = ImageFolderDataModule(root=str(tmp_path), image_size=8, batch_size=4, num_workers=0, val_fraction=0.2)
    dm.setup("fit")
    ds = dm.train_set.dataset
    bad = next(i for i, (p, _) in enumerate(ds.samples) if p.endswith("broken.png"))
    with pytest.raises(ValueError, match="broken.png.*skip_corrupt"):
        ds[bad]


def test_corrupt_image_skipped_and_counted(tmp_path):
    _image_folder(tmp_path, corrupt=True)
    dm = ImageFolderDataModule(root=str(tmp_path), image_size=8, batch_size=4, num_workers=0, skip_corrupt=True)
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        dm.setup("fit")
    assert len(dm.skipped["train"]) == 1 and dm.skipped["train"][0].endswith("broken.png")
    assert len(dm.train_set) + len(dm.val_set) == 12
    for i in range(len(dm.train_set)):
        dm.train_set[i]  # every remaining image decodes


class _NaNAtStep(SimCLR):
    """SimCLR whose loss turns NaN at optimizer step 3."""

    def ssl_step(self, views, labels):  # type: ignore[no-untyped-def]
        out = super().ssl_step(views, labels)
        if self.global_step == 3:
            out.loss = out.loss * float("nan")
        out.logs["alignment_term"] = torch.tensor(1.5)
        return out


def test_nan_loss_stops_with_step_and_terms_and_keeps_last_good_checkpoint(tmp_path):
    L.seed_everything(0)
    model = _NaNAtStep(**TINY)
    saver = ModelCheckpoint(dirpath=tmp_path, save_top_k=0, save_last=True, every_n_train_steps=1)
    trainer = quiet_trainer(max_epochs=2, callbacks=[saver], enable_checkpointing=True)
    with pytest.raises(FloatingPointError, match=r"global step 3 \(at step 3: loss=nan, alignment_term=1\.5\)"):
        trainer.fit(model, FakeDataModule(num_samples=80, image_size=16, batch_size=8, num_workers=0))
    ckpt = torch.load(tmp_path / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 3  # written after step 3 of 1..3 completed, before the bad step ran
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())


class _Recorder(L.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
        self.losses.append(float(outputs["loss"]))


def _losses(seed: int) -> list[float]:
    L.seed_everything(seed)
    rec = _Recorder()
    quiet_trainer(max_steps=4, callbacks=[rec], limit_val_batches=0).fit(
        SimCLR(**TINY), FakeDataModule(num_samples=48, image_size=16, batch_size=8, num_workers=0))
    return rec.losses


def test_same_seed_same_losses():
    a, b, c = _losses(0), _losses(0), _losses(1)
    assert len(a) == 4 and a == b
    assert a != c


# ----------------------------------------------------------------- corrupt, truncated and foreign checkpoints
def _bad_checkpoints(folder) -> dict[str, str]:  # noqa: ANN001
    """Damaged copies of a real training checkpoint, by kind of damage."""
    import zipfile

    model = SimCLR(**TINY)
    trainer = quiet_trainer(max_steps=1, limit_val_batches=0)
    trainer.fit(model, FakeDataModule(num_samples=16, image_size=16, batch_size=8, num_workers=0))
    good = folder / "good.ckpt"
    trainer.save_checkpoint(good)
    data = good.read_bytes()
    paths = {kind: folder / f"{kind}.ckpt" for kind in ("truncated", "garbage", "empty", "corrupt", "foreign")}
    paths["truncated"].write_bytes(data[: len(data) // 2])  # a copy or a full disk cut it short
    paths["garbage"].write_bytes(b"garbage\n")
    paths["empty"].write_bytes(b"")
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(paths["corrupt"], "w") as dst:  # intact zip, broken pickle
        for info in src.infolist():
            dst.writestr(info, b"\x80\x02garbage" if info.filename.endswith("data.pkl") else src.read(info))
    torch.save([torch.zeros(2)], paths["foreign"])  # a torch.save file, but not a checkpoint
    return {kind: str(p) for kind, p in paths.items()}


@pytest.fixture(scope="module")
def bad_ckpts(tmp_path_factory) -> dict[str, str]:  # noqa: ANN001
    return _bad_checkpoints(tmp_path_factory.mktemp("bad_ckpts"))


EXPECTED = {"truncated": "is truncated", "garbage": "is not a checkpoint", "empty": "is empty",
            "corrupt": "is corrupt", "foreign": "is not a training checkpoint"}


@pytest.mark.parametrize("kind", list(EXPECTED))
@pytest.mark.parametrize("weights_only", [True, False])
def test_load_checkpoint_names_the_damage_and_what_to_do(bad_ckpts, kind, weights_only):
    from vision_ssl.utils.checkpoint import load_checkpoint

    with pytest.raises(ValueError) as info:
        load_checkpoint(bad_ckpts[kind], weights_only=weights_only)
    message = str(info.value)
    assert EXPECTED[kind] in message and bad_ckpts[kind] in message
    assert "give a checkpoint written by `vision-ssl fit`" in message
    assert "\n" not in message


@pytest.mark.parametrize("command", ["fit", "test", "probe", "knn", "finetune", "report", "export"])
def test_every_command_names_a_truncated_checkpoint(bad_ckpts, command, tmp_path):
    ckpt = bad_ckpts["truncated"]
    args = {
        "fit": ["fit", "--config", DEMO, *FAKE, "--trainer.logger", "false", "--ckpt_path", ckpt],
        "test": ["test", "--config", DEMO, *FAKE, "--trainer.logger", "false", "--ckpt_path", ckpt],
        "probe": ["probe", ckpt], "knn": ["knn", ckpt], "finetune": ["finetune", ckpt],
        "report": ["report", ckpt, "--out", str(tmp_path / "report")],
        "export": ["export", ckpt, "--out", str(tmp_path / "backbone.pt")],
    }[command]
    with pytest.raises(ValueError, match=f"checkpoint '{ckpt}' is truncated"):
        main(args)
    assert not (tmp_path / "backbone.pt").exists()


def test_resume_from_a_corrupt_last_checkpoint_is_named(bad_ckpts, tmp_path):
    (tmp_path / "last.ckpt").write_bytes(b"garbage\n")
    with pytest.raises(ValueError, match=r"last\.ckpt' is not a checkpoint"):
        main(["fit", "--config", DEMO, *FAKE, "--trainer.logger", "false", "--checkpoint.dirpath", str(tmp_path),
              "--ckpt_path", "last"])


def test_corrupt_checkpoint_exits_1_with_one_line_and_no_traceback(bad_ckpts, tmp_path):
    proc = _cli("export", bad_ckpts["corrupt"], "--out", str(tmp_path / "backbone.pt"))
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("vision-ssl: error:")]
    assert len(errors) == 1 and f"'{bad_ckpts['corrupt']}' is corrupt" in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
