"""The supervised-from-scratch baseline trains through the shared pipeline (its learning run on real
Fashion-MNIST: tests/methods/test_learning.py)."""

from __future__ import annotations

import pytest
import torch

from vision_ssl.methods import Supervised
from vision_ssl.methods.step import Views

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_supervised_loss_needs_labels_and_ignores_unlabelled():
    model = Supervised(backbone="tiny", backbone_kwargs={"width": 4}, num_classes=3, image_size=16)
    views = Views([torch.randn(4, 3, 16, 16)])
    out = model.ssl_step(views, torch.tensor([0, 1, -1, -1]))
    ref = torch.nn.functional.cross_entropy(model.head(model.backbone(views.images[0]))[:2], torch.tensor([0, 1]))
    torch.testing.assert_close(out.loss, ref)
    assert out.features.shape == (4, model.num_features)
    unlabelled = model.ssl_step(views, torch.full((4,), -1))
    assert unlabelled.loss.item() == 0 and unlabelled.loss.requires_grad  # no signal, the graph kept
