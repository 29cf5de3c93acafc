"""Bad input to `prepare-data` and `StreamingImageDataModule` stops with one line naming the file and what to do:
a missing path, an empty folder, a truncated or garbled chunk, an unreadable image. Also: shards read from a URL
(LitData's `local:` scheme standing in for a bucket) give the same images as from the folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sample_files import CLASSES, key, one_line_error
from sample_files import streaming_module as module

from vision_ssl.cli import main as cli
from vision_ssl.data.shards import META_FILE, EncodeSample, prepare, write_split


def test_missing_path_and_empty_folder_are_one_line(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        module(tmp_path / "nowhere")
    assert "'" + str(tmp_path / "nowhere") + "' does not exist" in one_line_error(err)
    with pytest.raises(FileNotFoundError) as err:
        cli(["prepare-data", str(tmp_path / "nowhere"), str(tmp_path / "out")])
    assert "does not exist" in one_line_error(err)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError) as err:
        module(tmp_path / "empty")
    assert "holds no shards" in one_line_error(err) and "prepare-data" in one_line_error(err)
    with pytest.raises(ValueError) as err:
        cli(["prepare-data", str(tmp_path / "empty"), str(tmp_path / "out")])
    assert "no images found under" in one_line_error(err)


def test_missing_shards_in_fit_are_one_line(tmp_path):
    with pytest.raises((FileNotFoundError, ValueError)) as err:
        cli(["fit", "--model", "vision_ssl.methods.SimCLR", "--data", "vision_ssl.data.StreamingImageDataModule",
             "--data.root", str(tmp_path / "gone"), "--trainer.logger", "false"])
    assert f"shards folder '{tmp_path / 'gone'}' does not exist" in one_line_error(err)


def copy_shards(src: Path, to: Path) -> Path:
    shutil.copytree(src, to)
    return to


@pytest.mark.parametrize("workers", [0, 2])
def test_damaged_shards_are_named(shards, tmp_path, workers):
    truncated = copy_shards(shards, tmp_path / "truncated")
    chunk = sorted((truncated / "train").glob("*.bin"))[0]
    chunk.write_bytes(chunk.read_bytes()[:100])
    dm = module(truncated, num_workers=workers)
    with pytest.raises(ValueError) as err:
        dm.setup("fit")
    assert f"shard '{chunk}' is damaged (100 bytes instead of" in one_line_error(err)
    garbled = copy_shards(shards, tmp_path / "garbled")
    for chunk in (garbled / "train").glob("*.bin"):
        data = bytearray(chunk.read_bytes())
        data[:64] = bytes(range(64))  # the chunk header (item count and offsets)
        chunk.write_bytes(bytes(data))
    dm = module(garbled, num_workers=workers)
    dm.setup("fit")
    with pytest.raises(ValueError) as err:
        list(dm.train_dataloader())
    assert f"cannot read the shards '{garbled / 'train'}'" in one_line_error(err)


def test_unreadable_images(folder, tmp_path, capsys):
    src = tmp_path / "src"
    shutil.copytree(folder, src)
    (src / "train" / "ant" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(ValueError) as err:
        cli(["prepare-data", str(src), str(tmp_path / "out")])
    assert f"cannot read image '{src / 'train' / 'ant' / 'broken.png'}'" in one_line_error(err)
    assert "--skip-corrupt" in one_line_error(err)
    meta = prepare(str(src), str(tmp_path / "out"), chunk_bytes="8KB", skip_corrupt=True)
    assert meta["skipped"]["train"] == ["ant/broken.png"] and meta["splits"]["train"] == 40
    assert "1 unreadable skipped" in capsys.readouterr().out
    # An image that cannot be encoded is stored empty (a raising writer would hang LitData); reading names it.
    bad = tmp_path / "bad"
    write_split([[str(src / "train" / "ant" / "broken.png"), 0, 0, "ant/broken.png"]] * 8, str(bad / "train"),
                EncodeSample(), 1, "8KB")
    (bad / META_FILE).write_text(json.dumps({"format": meta["format"], "classes": CLASSES, "splits": {"train": 8}}))
    dm = module(bad, num_workers=2, val_fraction=0.25)
    dm.setup("fit")
    with pytest.raises(ValueError) as err:
        list(dm.train_dataloader())
    assert f"cannot decode image 'ant/broken.png' (sample 0) of the shards '{bad / 'train'}'" in one_line_error(err)


def test_url_root_downloads_meta_and_chunks_to_the_cache(shards, tmp_path):
    """The bucket code path, with LitData's `local:` scheme standing in for s3:// (no network here)."""
    dm = module(f"local:{shards}", cache_dir=str(tmp_path / "cache"), num_workers=2)
    assert dm.classes == CLASSES
    dm.setup()
    streamed = sorted(key(x) for b in dm.train_dataloader() for x in b[0])
    local = module(shards)
    local.setup()
    assert streamed == sorted(key(x) for b in local.train_dataloader() for x in b[0])  # same carve, same images
    assert list((tmp_path / "cache").rglob("chunk-*.bin"))  # read from copies in cache_dir
    with pytest.raises(FileNotFoundError) as err:
        module(f"local:{tmp_path / 'nowhere'}", cache_dir=str(tmp_path / "cache"))
    assert f"cannot fetch 'local:{tmp_path / 'nowhere'}/{META_FILE}'" in one_line_error(err)
