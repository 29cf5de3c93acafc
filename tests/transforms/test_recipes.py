"""View recipes as modules: sizes, counts, BYOL's asymmetry, multi-crop, per-size view grids, YAML injection."""

from __future__ import annotations

import pytest
import torch

from vision_ssl.cli import main
from vision_ssl.methods import BYOL, SimCLR, Supervised
from vision_ssl.methods.step import Views, view_grids
from vision_ssl.transforms import BYOLViews, CropFlipViews, MultiCropViews, SimCLRViews

TINY = dict(backbone="tiny", backbone_kwargs={"width": 4}, image_size=16)


def test_recipe_without_size_follows_the_model_and_makes_its_views():
    model = SimCLR(**TINY, augment=SimCLRViews(crop_scale=(0.2, 1.0)))
    assert model.augment.size == 16
    views = model.make_views(torch.randint(0, 256, (4, 3, 24, 24), dtype=torch.uint8))
    assert [v.shape for v in views.images] == [(4, 3, 16, 16)] * 2 and not torch.equal(*views.images)
    assert CropFlipViews(num_views=3, size=8)(torch.rand(2, 1, 12, 12))[2].shape == (2, 1, 8, 8)  # any channels


def test_byol_views_are_asymmetric():
    bright = torch.full((64, 3, 16, 16), 0.9)
    torch.manual_seed(0)
    first, second = BYOLViews(size=16, jitter_strength=0.0, blur_p=(1.0, 0.0), solarize_p=(0.0, 1.0))(bright)
    assert first.min() > 0.5  # never solarised
    assert second.max() <= 0.5  # always solarised: 0.9 -> 0.1 (grayscale and crops keep the constant image)
    torch.manual_seed(0)
    paper = BYOLViews(size=16)
    blur = [[m.p for m in pipe.children() if "Blur" in type(m).__name__] for pipe in paper.pipelines]
    solar = [[m.p for m in pipe.children() if "Solar" in type(m).__name__] for pipe in paper.pipelines]
    assert blur == [[1.0], [0.1]] and solar == [[], [0.2]]


def test_multicrop_globals_first_then_locals_and_one_grid_per_size():
    recipe = MultiCropViews(num_global=2, num_local=3, size=28)
    views = recipe(torch.randint(0, 256, (5, 3, 28, 28), dtype=torch.uint8))
    assert [v.shape[-1] for v in views] == [28, 28, 12, 12, 12] and recipe.num_views == 5
    grids = view_grids(Views(views), lambda x: x.clamp(0, 1), n=4)
    assert set(grids) == {"train/views_28x28", "train/views_12x12"}
    assert grids["train/views_12x12"].shape[-2] == 3 * (12 + 2) + 2  # a row per local view (make_grid pads 2)
    assert grids["train/views_28x28"].shape[-2] == 2 * (28 + 2) + 2
    assert MultiCropViews(num_local=2, local_size=8, size=16)(torch.rand(1, 3, 16, 16))[-1].shape[-1] == 8


def test_recipe_errors_name_the_value():
    with pytest.raises(ValueError, match="view recipe module.*SimCLRViews"):
        SimCLR(**TINY, augment={"crop_scale": [0.2, 1.0]})
    with pytest.raises(ValueError, match="Supervised trains on 1 views but .*SimCLRViews makes 2; set its num_views: 1"):
        Supervised(**TINY, augment=SimCLRViews())
    with pytest.raises(ValueError, match="solarize_p must be a probability"):
        MultiCropViews(solarize_p=2.0)
    with pytest.raises(ValueError, match="crop_scale"):
        CropFlipViews(crop_scale=(0.5, 0.2))


def test_byol_default_is_simclr_and_config_injects_byol_recipe(capsys):
    assert isinstance(BYOL(**TINY, proj_hidden_dim=8, proj_output_dim=4).augment, SimCLRViews)
    with pytest.raises(SystemExit):
        main(["fit", "--config", "configs/byol_fashion_mnist.yaml", "--print_config"])
    printed = capsys.readouterr().out
    assert "class_path: vision_ssl.transforms.BYOLViews" in printed or "vision_ssl.transforms.recipes.BYOLViews" in printed
    assert "solarize_p" in printed and "blur_p" in printed  # --print_config shows the recipe actually used
