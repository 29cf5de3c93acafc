"""`UnlabeledFolderDataModule` and the decoding it shares with `ImageFolderDataModule` (`data/image_files.py`).

What must hold: every image under the folder, at any depth and in any supported format (gray, RGB, RGBA, palette,
CMYK, 16-bit; JPEG, PNG, WebP, BMP, TIFF), comes out uint8 (C, S, S) with its values kept (16-bit white is 255,
a known colour survives); labels are -1 and `num_classes` 0; the order is sorted and the val carve seeded. Each bad
input stops with one line naming it and the way out. Shards of an unlabelled folder: tests/test_unlabeled_shards.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vision_ssl.data import ImageFolderDataModule, UnlabeledFolderDataModule
from vision_ssl.data.image_files import load_image
from vision_ssl.registry import DATAMODULES, resolve

S = 16
RED, TEAL = (200, 30, 40), (10, 150, 160)


def rgb(color: tuple[int, int, int], w: int, h: int) -> Image.Image:
    return Image.new("RGB", (w, h), color)


def write_mixed(root: Path) -> dict[str, tuple[int, ...]]:
    """One file per kind, in nested folders and with mixed sizes; returns name -> expected (R, G, B) or (gray,)."""
    (root / "a" / "b").mkdir(parents=True)
    (root / "c").mkdir()
    rgb(RED, 24, 20).save(root / "red.jpg", quality=95)
    rgb(TEAL, 20, 30).save(root / "a" / "teal.PNG")  # upper-case extension
    Image.new("L", (S, 40), 77).save(root / "a" / "gray.png")
    Image.new("RGBA", (18, 18), (*RED, 90)).save(root / "a" / "b" / "rgba.png")  # alpha dropped, colour kept
    Image.fromarray(np.full((20, 17), 65535, np.uint16)).save(root / "a" / "b" / "white16.png")
    Image.fromarray(np.full((17, 20), 32768, np.uint16)).save(root / "c" / "half16.tiff")
    rgb(TEAL, 30, 16).save(root / "c" / "teal.webp", lossless=True)
    rgb(RED, 16, 16).save(root / "c" / "red.bmp")
    rgb(TEAL, 20, 20).save(root / "c" / "teal.tif")
    rgb((255, 0, 0), 20, 20).convert("P").save(root / "c" / "palette.png")  # decoded as colours, not indices
    rgb(RED, 20, 20).convert("CMYK").save(root / "c" / "cmyk.jpg", quality=95)
    Image.new("LA", (20, 20), (120, 10)).save(root / "c" / "gray_alpha.png")
    (root / "c" / "notes.txt").write_text("not an image")
    return {"red.jpg": RED, "a/teal.PNG": TEAL, "a/gray.png": (77,), "a/b/rgba.png": RED, "a/b/white16.png": (255,),
            "c/half16.tiff": (128,), "c/teal.webp": TEAL, "c/red.bmp": RED, "c/teal.tif": TEAL,
            "c/palette.png": (255, 0, 0), "c/cmyk.jpg": RED, "c/gray_alpha.png": (120,)}


def module(root: Path, **kw) -> UnlabeledFolderDataModule:
    return UnlabeledFolderDataModule(**(dict(root=str(root), image_size=S, batch_size=2, num_workers=0) | kw))


@pytest.mark.parametrize("channels", [3, 1])
def test_every_format_decodes_to_uint8_squares_with_its_values(tmp_path, channels):
    expected = write_mixed(tmp_path)
    for name, value in expected.items():
        x = load_image(str(tmp_path / name), S, channels)
        assert x.shape == (channels, S, S) and x.dtype == torch.uint8, name
        want = torch.tensor(value, dtype=torch.float).expand(3) if len(value) == 1 else torch.tensor(value).float()
        if channels == 1:
            want = want.mean(dim=0, keepdim=True)
        tol = 4 if name.endswith(".jpg") else 1  # JPEG is lossy; the rest only rounds
        assert (x.float().mean(dim=(1, 2)) - want).abs().max() <= tol, (name, x[:, 0, 0].tolist(), value)


def test_shorter_side_resized_then_centre_cropped(tmp_path):
    stripes = np.zeros((S, 3 * S, 3), np.uint8)  # left red, middle green, right blue
    stripes[:, :S, 0], stripes[:, S : 2 * S, 1], stripes[:, 2 * S :, 2] = 255, 255, 255
    Image.fromarray(stripes).save(tmp_path / "wide.png")
    x = load_image(str(tmp_path / "wide.png"), 8, 3)  # 48x16 -> 24x8 -> centre 8x8: the green third
    inner = x[:, :, 1:-1]  # the antialiasing filter blends the outer columns with the neighbouring stripes
    assert x.shape == (3, 8, 8) and inner[1].min() == 255 and inner[0].max() == 0 and inner[2].max() == 0


def test_recursive_sorted_unlabelled_and_seeded(tmp_path):
    expected = write_mixed(tmp_path)
    dm = module(tmp_path, val_fraction=0.25)
    assert dm.num_classes == 0 and resolve(DATAMODULES, "unlabeled_folder", "data module") is UnlabeledFolderDataModule
    dm.setup()  # no stage: fit only, there is no test split
    full = dm.train_set.dataset
    assert [p for p, _ in full.samples] == sorted(str(tmp_path / n) for n in expected)  # notes.txt left out
    assert {label for _, label in full.samples} == {-1}
    assert len(dm.train_set) == 9 and len(dm.val_set) == 3
    again = module(tmp_path, val_fraction=0.25)
    again.setup("fit")
    assert again.val_set.indices == dm.val_set.indices
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (2, 3, S, S) and images.dtype == torch.uint8 and labels.tolist() == [-1, -1]
    images, labels = next(iter(dm.val_dataloader()))  # val images are unlabelled too
    assert labels.tolist() == [-1, -1]
    with pytest.raises(ValueError, match="has no 'test' split.*labelled data module"):
        dm.test_dataloader()
    with pytest.raises(ValueError, match="has no 'test' split"):
        module(tmp_path).setup("test")


def test_missing_empty_and_imageless_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"image folder '.*nowhere' does not exist.*\.jpg"):
        module(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"'.*empty' is empty; put image files \(.jpg.*\.tiff\)"):
        module(tmp_path / "empty").setup("fit")
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    for name in ("a.txt", "b.txt", "sub/c.gif"):
        (docs / name).write_text("x")
    with pytest.raises(ValueError, match=r"no image files under '.*docs': found 3 other file\(s\) \(2 \.txt, 1 \.gif\); "
                                         r"allowed extensions \(any case\): \.jpg, \.jpeg, \.png"):
        module(docs).setup("fit")


def test_corrupt_or_truncated_file_stops_with_its_path_or_is_skipped(tmp_path):
    for i in range(4):
        rgb(RED, 20, 20).save(tmp_path / f"{i}.jpg")
    raw = (tmp_path / "0.jpg").read_bytes()
    (tmp_path / "1.jpg").write_bytes(raw[: len(raw) // 2])  # truncated: its header still parses
    (tmp_path / "2.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    dm = module(tmp_path, val_fraction=0.2, batch_size=1)
    dm.setup("fit")
    with pytest.raises(ValueError, match=r"cannot decode image '.*(1\.jpg|2\.png)'.*skip_corrupt: true"):
        [dm.train_set.dataset[i] for i in range(len(dm.train_set.dataset))]
    dm = module(tmp_path, val_fraction=0.2, batch_size=1, skip_corrupt=True)
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable image\(s\) of .* \(first: .*1\.jpg\)"):
        dm.setup("fit")
    assert [Path(p).name for p in dm.skipped] == ["1.jpg", "2.png"] and len(dm.train_set.dataset) == 3
    assert next(iter(dm.train_dataloader()))[0].shape == (1, 3, S, S)


def test_small_image_is_an_error_unless_upscaling_is_asked(tmp_path):
    for i in range(3):
        rgb(TEAL, 40, 30).save(tmp_path / f"big{i}.png")
    rgb(TEAL, 12, 10).save(tmp_path / "small.png")
    dm = module(tmp_path, val_fraction=0.25)
    dm.setup("fit")
    with pytest.raises(ValueError, match=r"image '.*small\.png' is 12x10 pixels, smaller than data\.image_size=16 .*"
                                         r"lower data\.image_size.*upscale_small: true"):
        [dm.train_set.dataset[i] for i in range(4)]
    dm = module(tmp_path, val_fraction=0.25, upscale_small=True)
    dm.setup("fit")
    assert dm.train_set.dataset[3][0].shape == (3, S, S)


def test_fewer_images_than_batch_size(tmp_path):
    for i in range(5):
        rgb(TEAL, 20, 20).save(tmp_path / f"{i}.png")
    dm = module(tmp_path, batch_size=8)
    dm.setup("fit")
    with pytest.raises(ValueError, match="training split has 4 images, fewer than batch_size=8"):
        dm.train_dataloader()


def test_image_folder_reads_the_same_formats(tmp_path):
    for split in ("train", "val"):
        for name in ("a", "b"):
            (tmp_path / split / name).mkdir(parents=True)
            Image.fromarray(np.full((20, 20), 65535, np.uint16)).save(tmp_path / split / name / "white.tiff")
            rgb(RED, 20, 20).save(tmp_path / split / name / "red.bmp")
    dm = ImageFolderDataModule(root=str(tmp_path), image_size=S, batch_size=2, num_workers=0, val_fraction=0.25)
    dm.setup()
    images = torch.stack([dm.test_set[i][0] for i in range(4)])
    assert images.dtype == torch.uint8 and images.shape == (4, 3, S, S)
    assert {tuple(x[:, 0, 0].tolist()) for x in images} == {(255, 255, 255), RED}


def test_image_folder_splits_with_different_classes(tmp_path):
    for split, names in (("train", ("ant", "bee", "cat")), ("val", ("ant", "cat", "dog"))):
        for name in names:
            (tmp_path / split / name).mkdir(parents=True)
            rgb(RED, 20, 20).save(tmp_path / split / name / "0.png")
    dm = ImageFolderDataModule(root=str(tmp_path), image_size=S, batch_size=2, num_workers=0)
    with pytest.raises(ValueError, match=r"class folders of '.*val' differ from those of '.*train': only in train: "
                                         r"\['bee'\]; only in val: \['dog'\]"):
        dm.setup()
