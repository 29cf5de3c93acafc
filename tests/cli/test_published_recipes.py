"""`vision_ssl.recipes`: every image method's Fashion-MNIST config is its published recipe, and a smaller budget
changes the budget only (what the learning tests and the benchmarks run)."""

from __future__ import annotations

import pytest
from helpers import DATA_ROOT

from vision_ssl import recipes
from vision_ssl.registry import IMAGE_METHODS


@pytest.mark.parametrize("method", IMAGE_METHODS)
def test_every_image_method_has_a_published_full_budget_recipe(method):
    cfg = recipes.load(method)
    header = recipes.config_path(method).read_text().split("seed_everything")[0]
    assert "The published recipe" in header
    assert cfg["trainer"]["max_epochs"] == 20 and cfg["data"]["init_args"]["batch_size"] == 256
    assert "max_train_samples" not in cfg["data"]["init_args"]  # the whole 54,000-image training split
    model = cfg["model"]["init_args"]
    assert model["backbone"] != "tiny" or model["backbone_kwargs"] == {"width": 16}


def test_budget_overrides_change_the_budget_and_nothing_else():
    model, dm = recipes.instantiate("byol", epochs=2, max_train_samples=512, batch_size=32, width=8, root=DATA_ROOT)
    full = recipes.load("byol")["model"]["init_args"]
    assert model.hparams.backbone_kwargs == {"width": 8} and dm.batch_size == 32 and dm.max_train_samples == 512
    assert model.hparams.proj_hidden_dim == full["proj_hidden_dim"] and type(model.augment).__name__ == "BYOLViews"
    assert recipes.budget_args("mae", width=8) == []  # a ViT recipe keeps its own backbone
    with pytest.raises(ValueError, match="not budget keys: proj_hidden_dim"):
        recipes.budget_args("simclr", proj_hidden_dim=64)
    with pytest.raises(FileNotFoundError, match="simclr has: cifar10, fashion_mnist"):
        recipes.config_path("simclr", "imagenet")
