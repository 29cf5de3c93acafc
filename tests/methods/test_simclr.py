"""SimCLR and the SSLMethod base: probe isolation, seeded on-device views (learning on real data:
tests/methods/test_learning.py)."""

from __future__ import annotations

import torch
from helpers import quiet_trainer

from vision_ssl.data import FakeDataModule
from vision_ssl.methods import SimCLR
from vision_ssl.methods.step import StepOutput, Views
from vision_ssl.utils import distributed

TINY = dict(backbone="tiny", backbone_kwargs={"width": 8}, proj_hidden_dim=32, proj_output_dim=16, image_size=16)


def test_probe_sends_no_gradient_into_backbone():
    model = SimCLR(**TINY)
    x = torch.randn(4, 3, 16, 16)
    # The SSL loss contributes nothing here, so every gradient of the step comes from the online probe.
    model.ssl_step = lambda views, labels: StepOutput(torch.zeros((), requires_grad=True), model.backbone(x))
    model.training_step((Views([x, x]), torch.tensor([0, 1, 2, 3])), 1)["loss"].backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.probe.weight.grad is not None and model.probe.weight.grad.abs().sum() > 0


def test_ssl_loss_reaches_backbone_but_not_probe():
    model = SimCLR(**TINY)
    loss = model.ssl_step(Views([torch.randn(4, 3, 16, 16), torch.randn(4, 3, 16, 16)]), torch.zeros(4, dtype=torch.long)).loss
    loss.backward()
    assert all(p.grad is not None for p in model.backbone.parameters())
    assert model.probe.weight.grad is None


def _views_after_transfer(model: SimCLR, images: torch.Tensor) -> Views:
    class _T:  # the bit of a Trainer that on_after_batch_transfer reads
        training = True

    model._trainer = _T()  # type: ignore[assignment]
    views, _ = model.on_after_batch_transfer((images, torch.zeros(len(images))), 0)
    return views


def test_views_seeded_by_run_step_and_rank(monkeypatch):
    images = FakeDataModule(image_size=16).load_split("train").images[:6]
    a, b = SimCLR(**TINY), SimCLR(**TINY)
    a.aug_seed = b.aug_seed = 7
    va, vb = _views_after_transfer(a, images).images, _views_after_transfer(b, images).images
    assert all(torch.equal(x, y) for x, y in zip(va, vb, strict=True)), "same seed and step must give the same views"
    assert not torch.equal(va[0], va[1]), "the two views must differ"
    assert not torch.equal(_views_after_transfer(a, images).images[0], va[0]), "the next step must draw new views"
    monkeypatch.setattr(distributed, "rank", lambda: 1)
    b.aug_step = 0
    assert not torch.equal(_views_after_transfer(b, images).images[0], va[0]), "ranks must draw independent views"


def test_fit_on_fake_data_logs_keys():
    model = SimCLR(**TINY, num_classes=4, warmup_epochs=0)
    dm = FakeDataModule(image_size=16, batch_size=16, num_workers=0, num_samples=64)
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(model, dm)
    for key in ("train/loss", "train/probe_top1", "val/probe_top1"):
        assert key in trainer.callback_metrics, key
    assert int(model.aug_step) == 3  # 57 train images // 16, drop_last
