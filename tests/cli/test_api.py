"""The Python API (`vision_ssl.api`): one registry for names, `train` on the CLI's machinery (same first losses as
the command), `load_encoder` from the checkpoint alone, and `embed` giving the same features for every input kind."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from helpers import DATA_ROOT, REPO
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torchvision.io import decode_image, write_png

import vision_ssl
from vision_ssl import recipes
from vision_ssl.cli import main as cli
from vision_ssl.eval.features import load_run
from vision_ssl.registry import METHODS, short_class_paths

TINY = {"model.backbone_kwargs": {"width": 4}, "model.proj_hidden_dim": 16, "model.proj_output_dim": 8,
        "data.num_workers": 0, "trainer.accelerator": "cpu", "trainer.limit_train_batches": 2,
        "trainer.limit_val_batches": 1, "trainer.enable_progress_bar": False, "trainer.enable_model_summary": False}
# Constructor arguments of the video methods small enough to build in a test (the image ones: their configs/<name>_fashion_mnist.yaml).
VIDEO_ARGS = {"next_frame": dict(width=8, g_dim=16, rnn_size=16, image_size=16),
              "video_jepa": dict(image_size=16)}


def png_folder(root: Path, n: int, classes: tuple[str, ...] = ("ant", "bee")) -> Path:
    """`root/train/<class>/i.png`: n random 20x26 RGB images (`ImageFolderDataModule` reads PNG, JPEG, WebP, GIF)."""
    g = torch.Generator().manual_seed(0)
    for i in range(n):
        folder = root / "train" / classes[i % len(classes)]
        folder.mkdir(parents=True, exist_ok=True)
        write_png(torch.randint(0, 256, (3, 20, 26), dtype=torch.uint8, generator=g), str(folder / f"{i:03d}.png"))
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict[str, Path]:
    """A one-epoch, two-step SimCLR run on an ImageFolder, whose images are deleted afterwards."""
    root = tmp_path_factory.mktemp("api")
    folder = png_folder(root / "images", 24)
    ckpt = vision_ssl.train("simclr", str(folder), out=str(root / "run"), backbone="tiny", epochs=1, batch_size=8,
                            image_size=16, **TINY)
    shutil.rmtree(folder)  # the encoder must come from the checkpoint alone
    return {"ckpt": Path(ckpt), "root": root}


def test_list_and_create_read_the_one_registry():
    assert vision_ssl.list_methods() == sorted(METHODS)
    with pytest.raises(ValueError, match=r"Unknown method 'simclrr'. Valid method names: barlow_twins, byol"):
        vision_ssl.create_method("simclrr")
    assert short_class_paths(["fit", "--model", "simclr", "--data=fake", "--trainer.max_epochs", "1"]) == [
        "fit", "--model", METHODS["simclr"], "--data=vision_ssl.data.fake.FakeDataModule", "--trainer.max_epochs", "1"]


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_registered_method_can_be_created(name):
    if name in VIDEO_ARGS:
        kwargs = VIDEO_ARGS[name]
    else:
        kwargs = {k: v for k, v in recipes.load(name)["model"]["init_args"].items() if k not in ("augment", "optimizer")}
        if kwargs["backbone"] == "tiny":
            kwargs["backbone_kwargs"] = {"width": 4}
        kwargs.update(image_size=28, num_classes=10)
    model = vision_ssl.create_method(name, **kwargs)
    assert type(model).__module__ + "." + type(model).__qualname__ == METHODS[name]


def test_train_returns_the_last_checkpoint_of_the_run(run):
    ckpt = torch.load(run["ckpt"], weights_only=False)
    assert run["ckpt"].name == "last.ckpt" and run["ckpt"].parent == run["root"] / "run" / "checkpoints"
    assert ckpt["vision_ssl"]["datamodule"].endswith("ImageFolderDataModule")  # a train/<class>/ folder
    assert ckpt["hyper_parameters"]["backbone"] == "tiny" and ckpt["hyper_parameters"]["image_size"] == 16
    assert ckpt["global_step"] == 2


def test_load_encoder_needs_no_dataset_on_disk(run):
    with pytest.raises(FileNotFoundError):
        load_run(str(run["ckpt"]))  # the evaluators rebuild the training data module, which is gone
    enc = vision_ssl.load_encoder(run["ckpt"])
    assert not enc.training and not enc.backbone.training
    assert (enc.image_size, enc.channels, enc.num_features) == (16, 3, enc.backbone.num_features)
    trained = torch.load(run["ckpt"], weights_only=False)["state_dict"]
    assert torch.equal(enc.backbone.state_dict()["features.0.0.weight"], trained["backbone.features.0.0.weight"])
    twin = vision_ssl.load_encoder(f"random:{run['ckpt']}")
    assert not torch.equal(twin.backbone.state_dict()["features.0.0.weight"], trained["backbone.features.0.0.weight"])


def test_load_encoder_names_a_file_that_is_not_a_checkpoint(tmp_path):
    text, foreign = tmp_path / "notes.txt", tmp_path / "weights.ckpt"
    text.write_text("not a checkpoint\n")
    torch.save({"state_dict": {}, "hyper_parameters": {}}, foreign)  # a Lightning file without our record
    for path, words in ((text, "is not a checkpoint"), (foreign, "is not a vision_ssl training checkpoint")):
        with pytest.raises(ValueError, match=words) as err:
            vision_ssl.load_encoder(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        vision_ssl.load_encoder(tmp_path / "missing.ckpt")


def test_embed_gives_the_same_features_for_every_kind_of_input(run, tmp_path):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (5, 3, 20, 26), dtype=torch.uint8, generator=g)  # resized and cropped to 16
    paths = [tmp_path / "photos" / f"{i}.png" for i in range(5)]
    paths[0].parent.mkdir()
    for img, p in zip(images, paths, strict=True):
        write_png(img, str(p))
    enc = vision_ssl.load_encoder(run["ckpt"])
    from_folder = vision_ssl.embed(enc, paths[0].parent, batch_size=2)
    assert from_folder.shape == (5, enc.num_features) and from_folder.dtype == torch.float32
    assert torch.equal(torch.stack([decode_image(str(p)) for p in paths]), images)
    same = {
        "paths": vision_ssl.embed(enc, [str(p) for p in paths], batch_size=3),
        "PIL": vision_ssl.embed(enc, [Image.open(p) for p in paths]),
        "uint8": vision_ssl.embed(enc, images, batch_size=4),
        "float": vision_ssl.embed(enc, images.float() / 255),
        "checkpoint": vision_ssl.embed(str(run["ckpt"]), paths[0].parent),
    }
    for kind, feats in same.items():
        torch.testing.assert_close(feats, from_folder, rtol=1e-5, atol=1e-6, msg=lambda m, k=kind: f"{k}: {m}")
    with pytest.raises(ValueError, match="only paths or only PIL images"):
        vision_ssl.embed(enc, [str(paths[0]), Image.open(paths[0])])
    with pytest.raises(FileNotFoundError, match="nowhere"):
        vision_ssl.embed(enc, str(tmp_path / "nowhere"))


def scalars(log_dir: Path, key: str) -> list[float]:
    events = EventAccumulator(str(log_dir))
    events.Reload()
    return [e.value for e in events.Scalars(key)]


def test_python_and_command_line_runs_give_the_same_first_losses(tmp_path):
    """The demo config on 128 Fashion-MNIST images, 3 steps: vision_ssl.train and `vision-ssl fit` log the same."""
    config = str(REPO / "configs" / "demo.yaml")
    small = {"data.root": DATA_ROOT, "data.max_train_samples": 128, "data.num_workers": 0,
             "trainer.limit_train_batches": 3, "trainer.limit_val_batches": 1, "trainer.log_every_n_steps": 1,
             "trainer.accelerator": "cpu", "trainer.enable_progress_bar": False}
    ckpt = vision_ssl.train("simclr", "fashion_mnist", out=str(tmp_path / "py"), config=config, epochs=1,
                            batch_size=32, **small)
    cli(["fit", "--config", config, "--model", "simclr", "--trainer.max_epochs", "1",
         "--data.init_args.batch_size", "32", "--data.init_args.root", DATA_ROOT,
         "--data.init_args.max_train_samples", "128", "--data.init_args.num_workers", "0",
         "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "1", "--trainer.log_every_n_steps", "1",
         "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false",
         "--trainer.logger.init_args.save_dir", str(tmp_path / "cli"), "--checkpoint.dirpath", str(tmp_path / "cli_ckpt")])
    py = scalars(tmp_path / "py" / "logs" / "version_0", "train/loss")
    (cli_dir,) = (tmp_path / "cli" / "demo").glob("version_*")
    assert len(py) == 3 and py == scalars(cli_dir, "train/loss")
    ours, theirs = torch.load(ckpt, weights_only=False), torch.load(tmp_path / "cli_ckpt" / "last.ckpt", weights_only=False)
    assert ours["hyper_parameters"]["backbone_kwargs"] == {"width": 16}  # the config's model, not the defaults
    for key, value in ours["state_dict"].items():
        assert torch.equal(value, theirs["state_dict"][key]), key


def test_train_refuses_bad_names_and_keys_with_the_command_line_s_message(tmp_path):
    with pytest.raises(ValueError, match="Option 'temprature' is not accepted"):
        vision_ssl.train("simclr", "fake", out=str(tmp_path), **{"model.temprature": 0.3})
    with pytest.raises(ValueError, match="data 'nowhere' is neither a dataset name \\(.*fashion_mnist.*\\) nor an existing folder"):
        vision_ssl.train("simclr", "nowhere", out=str(tmp_path))
    with pytest.raises(ValueError, match="Unknown method 'simclrr'"):
        vision_ssl.train("simclrr", "fake", out=str(tmp_path))
    assert not list(tmp_path.iterdir())  # refused before anything ran


def test_data_is_mapped_to_its_data_module_by_what_is_on_disk(tmp_path):
    from vision_ssl.api import data_args
    from vision_ssl.data.resolve import UNLABELLED_FOLDER as UNLABELED_FOLDER
    from vision_ssl.data.shards import META_FILE

    (tmp_path / "classes" / "train" / "ant").mkdir(parents=True)
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / META_FILE).write_text("{}")
    (tmp_path / "flat").mkdir()
    assert data_args("cifar10") == ["--data", "vision_ssl.data.torchvision_data.CIFAR10DataModule"]
    assert data_args(str(tmp_path / "classes"))[1].endswith("ImageFolderDataModule")
    assert data_args(str(tmp_path / "shards"))[1].endswith("StreamingImageDataModule")
    assert data_args(str(tmp_path / "flat")) == ["--data", UNLABELED_FOLDER, "--data.init_args.root", str(tmp_path / "flat")]
