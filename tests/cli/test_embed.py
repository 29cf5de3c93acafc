"""`vision-ssl embed`: one row per image from a folder or from shards, equal to the backbone applied to the image as
the data modules decode it; .pt/.npy/.csv agree; the projector holds names, labels and thumbnails; unreadable
images stop with their path or are skipped and listed."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from sample_files import CLASSES, one_line_error, write_folder

from vision_ssl.cli import main as cli
from vision_ssl.data import StreamingImageDataModule
from vision_ssl.data.shard_reader import decode_bytes
from vision_ssl.data.shards import encode_file
from vision_ssl.embed_cli import load_backbone
from vision_ssl.methods import SimCLR


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    """An image folder, its shards and a SimCLR checkpoint (one step) trained on them at 8x8."""
    root = tmp_path_factory.mktemp("embed")
    folder = write_folder(root / "images", n_train=16, n_val=5)
    shards = root / "shards"
    cli(["prepare-data", str(folder), str(shards), "--chunk-bytes", "8KB"])
    dm = StreamingImageDataModule(root=str(shards), image_size=8, batch_size=4, num_workers=0, val_fraction=0.25)
    model = SimCLR(backbone="tiny", backbone_kwargs={"width": 4}, num_classes=3, image_size=8, proj_hidden_dim=16,
                   proj_output_dim=8)
    trainer = L.Trainer(accelerator="cpu", fast_dev_run=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.fit(model, dm)
    trainer.save_checkpoint(root / "enc.ckpt")
    return {"folder": folder, "shards": shards, "ckpt": root / "enc.ckpt", "root": root}


def rows(path: Path) -> dict[str, list[str]]:
    with open(path) as f:
        return {r[0]: r[1:] for r in list(csv.reader(f))[1:]}


def test_folder_and_shards_give_the_backbone_of_each_image_in_every_format(setup, tmp_path):
    ckpt, folder = str(setup["ckpt"]), setup["folder"]
    cli(["embed", ckpt, "--data", str(folder), "--out", str(tmp_path / "f.pt"), "--workers", "0"])
    cli(["embed", ckpt, "--data", str(setup["shards"]), "--out", str(tmp_path / "s.csv"), "--workers", "2",
         "--batch-size", "5"])
    cli(["embed", ckpt, "--data", str(folder), "--out", str(tmp_path / "f.npy"), "--workers", "2"])
    pt = torch.load(tmp_path / "f.pt")
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.*"))
    assert pt["names"] == files and pt["classes"] == CLASSES and pt["skipped"] == []
    assert pt["labels"].tolist() == [CLASSES.index(Path(n).parent.name) for n in files]
    backbone, normalize, size, channels = load_backbone(ckpt, None)
    assert (size, channels) == (8, 3)
    images = torch.stack([decode_bytes(encode_file(str(folder / n)), size, channels) for n in files])  # BMP: as PNG
    with torch.no_grad():
        expected = backbone.eval()(normalize(images))
    torch.testing.assert_close(pt["embeddings"], expected, rtol=1e-5, atol=1e-6)  # batched = one by one
    from_shards = rows(tmp_path / "s.csv")
    assert sorted(from_shards) == files  # every image once, names prefixed by split as in the folder
    for i, name in enumerate(files):
        index, label, *values = from_shards[name]
        assert int(label) == pt["labels"][i]
        np.testing.assert_allclose(np.array(values, dtype=float), pt["embeddings"][i].numpy(), rtol=1e-4, atol=1e-6)
    npy = np.load(tmp_path / "f.npy")
    ids = rows(tmp_path / "f.npy.ids.csv")
    assert npy.shape == tuple(pt["embeddings"].shape) and list(ids) == files
    np.testing.assert_allclose(npy, pt["embeddings"].numpy())


def test_random_twin_projector_and_thumbnails(setup, tmp_path):
    ckpt = str(setup["ckpt"])
    cli(["embed", ckpt, "--data", str(setup["folder"]), "--out", str(tmp_path / "t.pt"), "--workers", "0"])
    cli(["embed", f"random:{ckpt}", "--data", str(setup["folder"]), "--out", str(tmp_path / "r.pt"), "--workers", "0",
         "--projector", str(tmp_path / "proj"), "--projector-max", "10"])
    trained, random = torch.load(tmp_path / "t.pt"), torch.load(tmp_path / "r.pt")
    assert trained["names"] == random["names"] and not torch.allclose(trained["embeddings"], random["embeddings"])
    meta = next((tmp_path / "proj").rglob("metadata.tsv")).read_text().splitlines()
    assert meta[0] == "name\tlabel" and len(meta) == 11 and meta[1] == f"{random['names'][0]}\tant"
    assert next((tmp_path / "proj").rglob("sprite.png")).stat().st_size > 0
    assert (tmp_path / "proj" / "projector_config.pbtxt").is_file()


def test_unreadable_images_stop_or_are_skipped(setup, tmp_path, capsys):
    folder = tmp_path / "images"
    shutil.copytree(setup["folder"], folder)
    broken = folder / "train" / "bee" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not a jpeg")
    with pytest.raises(ValueError) as err:
        cli(["embed", str(setup["ckpt"]), "--data", str(folder), "--out", str(tmp_path / "e.pt"), "--workers", "2"])
    assert f"cannot decode image '{broken}'" in one_line_error(err) and "--skip-corrupt" in one_line_error(err)
    cli(["embed", str(setup["ckpt"]), "--data", str(folder), "--out", str(tmp_path / "e.pt"), "--skip-corrupt"])
    out = torch.load(tmp_path / "e.pt")
    assert out["skipped"] == ["train/bee/broken.jpg"] and len(out["names"]) == 21
    assert "skipped 1 unreadable (first: train/bee/broken.jpg)" in capsys.readouterr().out


def test_bad_arguments_are_one_line(setup, tmp_path):
    ckpt = str(setup["ckpt"])
    with pytest.raises(ValueError) as err:
        cli(["embed", ckpt, "--data", str(setup["folder"]), "--out", str(tmp_path / "e.txt")])
    assert "--out must end in .pt, .npy, .csv, got" in one_line_error(err)
    with pytest.raises(FileNotFoundError) as err:
        cli(["embed", ckpt, "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "e.pt")])
    assert f"--data '{tmp_path / 'nowhere'}' does not exist" in one_line_error(err)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError) as err:
        cli(["embed", ckpt, "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "e.pt")])
    assert "no images found under" in one_line_error(err)
    (tmp_path / "not.ckpt").write_bytes(b"junk")
    with pytest.raises(ValueError) as err:
        cli(["embed", str(tmp_path / "not.ckpt"), "--data", str(setup["folder"]), "--out", str(tmp_path / "e.pt")])
    assert "not.ckpt" in one_line_error(err)
