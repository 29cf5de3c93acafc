"""Linear probe, fine-tuning and the labelled-fraction split: real properties on synthetic and fake data."""

from __future__ import annotations

import pytest
import torch

from vision_ssl.data import FakeDataModule
from vision_ssl.eval import linear_probe, probe_features
from vision_ssl.eval.finetune import dataset_labels, finetune, label_fraction_indices
from vision_ssl.methods import SimCLR

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _gaussian_classes(n: int, num_classes: int, dim: int, seed: int, sep: float) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_classes, dim, generator=torch.Generator().manual_seed(123)) * sep
    y = torch.arange(n) % num_classes
    return centres[y] + torch.randn(n, dim, generator=g), y


def test_probe_near_perfect_on_separable_features():
    feats = {s: _gaussian_classes(n, 5, 16, seed, sep=4.0) for s, n, seed in (("train", 500, 0), ("val", 200, 1), ("test", 200, 2))}
    r = probe_features(feats, 5, lrs=(3e-2,), wds=(0.0, 1e-2), epochs=20)
    assert r["val_top1"] > 0.98 and r["test_top1"] > 0.98
    assert r["wd"] in (0.0, 1e-2)


def test_probe_at_chance_on_random_labels():
    g = torch.Generator().manual_seed(0)
    feats = {s: (torch.randn(n, 16, generator=g), torch.randint(0, 5, (n,), generator=g)) for s, n in (("train", 500), ("val", 1000))}
    r = probe_features(feats, 5, lrs=(3e-2,), epochs=20)
    assert abs(r["val_top1"] - 0.2) < 0.06  # nothing to learn: chance 1/5 (std of the estimate ~0.013)


def test_frozen_means_frozen():
    dm = FakeDataModule(num_samples=64, image_size=16, batch_size=16, num_workers=0)
    model = SimCLR(backbone="tiny", backbone_kwargs={"width": 4}, proj_hidden_dim=16, proj_output_dim=8,
                   num_classes=dm.num_classes, image_size=16)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    linear_probe(model, dm, lrs=(1e-2,), epochs=2)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "probing changed the backbone (e.g. BN stats)"
    assert model.training, "probing must restore the module's mode"


def test_label_fraction_is_seeded_and_stratified():
    labels = torch.arange(1000) % 10
    a, b = label_fraction_indices(labels, 0.01, seed=3), label_fraction_indices(labels, 0.01, seed=3)
    assert torch.equal(a, b) and len(a) == 10 and sorted(labels[a].tolist()) == list(range(10))
    assert not torch.equal(a, label_fraction_indices(labels, 0.01, seed=4))
    assert len(label_fraction_indices(labels, 0.1)) == 100


def test_finetune_learns_and_leaves_the_encoder_untouched():
    dm = FakeDataModule(num_samples=256, num_classes=4, image_size=16, batch_size=32, num_workers=0, val_fraction=0.25)
    torch.manual_seed(0)
    model = SimCLR(backbone="tiny", backbone_kwargs={"width": 8}, proj_hidden_dim=16, proj_output_dim=8,
                   num_classes=4, image_size=16)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    r = finetune(model.backbone, model.normalize, dm, epochs=3, lr=1e-2, batch_size=32, backbone_lr_scale=1.0)
    assert r["val_top1"] > 0.6  # 4 classes: chance 0.25 (the fake test split draws other class colours)
    assert all(torch.equal(before[k], v) for k, v in model.backbone.state_dict().items())
    small = finetune(model.backbone, model.normalize, dm, epochs=0, label_fraction=0.1)
    dm.setup("fit")
    assert small["num_train"] == len(label_fraction_indices(dataset_labels(dm.train_set), 0.1))
