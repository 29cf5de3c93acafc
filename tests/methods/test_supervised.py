"""The supervised-from-scratch baseline trains through the shared pipeline and learns on real Fashion-MNIST."""

from __future__ import annotations

import pytest
import torch
from helpers import fashion_mnist, probe_vs_random

from vision_ssl.methods import Supervised
from vision_ssl.methods.step import Views
from vision_ssl.transforms import SimCLRViews

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.mark.slow
def test_supervised_beats_random_weights_on_fashion_mnist():
    torch.manual_seed(0)
    dm = fashion_mnist(max_train_samples=2048, batch_size=128)
    model = Supervised(backbone="tiny", backbone_kwargs={"width": 8}, num_classes=10, image_size=28,
                       warmup_epochs=0, augment=SimCLRViews(num_views=1, crop_scale=(0.5, 1.0)))
    trained, random = probe_vs_random(model, dm, max_epochs=2, probe_epochs=60)
    print(f"linear probe after 2 supervised epochs {trained:.3f} vs random weights {random:.3f}")
    assert trained > random + 0.03, f"supervised {trained:.3f} vs random weights {random:.3f}"


def test_supervised_loss_needs_labels_and_ignores_unlabelled():
    model = Supervised(backbone="tiny", backbone_kwargs={"width": 4}, num_classes=3, image_size=16)
    views = Views([torch.randn(4, 3, 16, 16)])
    out = model.ssl_step(views, torch.tensor([0, 1, -1, -1]))
    ref = torch.nn.functional.cross_entropy(model.head(model.backbone(views.images[0]))[:2], torch.tensor([0, 1]))
    torch.testing.assert_close(out.loss, ref)
    assert out.features.shape == (4, model.num_features)
    unlabelled = model.ssl_step(views, torch.full((4,), -1))
    assert unlabelled.loss.item() == 0 and unlabelled.loss.requires_grad  # no signal, the graph kept
