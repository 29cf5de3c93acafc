"""Siamese-family methods: teachers get no gradient and move by EMA, stop-gradients sit where the papers put
them, MoCo's queue is a checkpointed FIFO, MoCo v3 trains a ResNet and a ViT. Learning on real Fashion-MNIST:
tests/methods/test_learning.py."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from helpers import quiet_trainer
from torch import nn

import vision_ssl.methods.barlow_twins as barlow_mod
import vision_ssl.methods.byol as byol_mod
import vision_ssl.methods.mocov2 as mocov2_mod
import vision_ssl.methods.mocov3 as mocov3_mod
import vision_ssl.methods.simsiam as simsiam_mod
import vision_ssl.methods.vicreg as vicreg_mod
from vision_ssl.data import FakeDataModule
from vision_ssl.methods import BYOL, BarlowTwins, MoCoV2, MoCoV3, SimSiam, VICReg
from vision_ssl.methods.step import Views
from vision_ssl.registry import METHODS, resolve
from vision_ssl.utils.momentum import frozen_copy, update_ema

SMALL: dict[str, Any] = dict(backbone="tiny", backbone_kwargs={"width": 4}, num_classes=3, image_size=16,
                             proj_hidden_dim=16, proj_output_dim=8)
EXTRA: dict[type, dict[str, Any]] = {MoCoV2: dict(queue_size=32), SimSiam: dict(pred_hidden_dim=4)}
ALL = [MoCoV2, MoCoV3, BYOL, SimSiam, BarlowTwins, VICReg]


def small(cls: type, **kw: Any) -> Any:
    torch.manual_seed(0)
    return cls(**{**SMALL, **EXTRA.get(cls, {}), **kw})


def views(n: int = 8) -> Views:
    return Views([torch.randn(n, 3, 16, 16), torch.randn(n, 3, 16, 16)])


LABELS = torch.zeros(8, dtype=torch.long)


def test_registered_under_short_names():
    for name, cls in [("mocov2", MoCoV2), ("mocov3", MoCoV3), ("byol", BYOL), ("simsiam", SimSiam),
                      ("barlow_twins", BarlowTwins), ("vicreg", VICReg)]:
        assert resolve(METHODS, name, "method") is cls


def test_update_ema_formula_and_frozen_copy():
    student = nn.Linear(3, 2)
    teacher = frozen_copy(student)
    assert all(not p.requires_grad for p in teacher.parameters())
    assert all(p.requires_grad for p in student.parameters())
    old = teacher.weight.clone()
    with torch.no_grad():
        student.weight.add_(1.0)
    update_ema(teacher, student, 0.9)
    torch.testing.assert_close(teacher.weight, 0.9 * old + 0.1 * student.weight)
    update_ema(teacher, student, 0.0)
    torch.testing.assert_close(teacher.weight, student.weight)
    with pytest.raises(ValueError, match="momentum"):
        update_ema(teacher, student, 1.5)


@pytest.mark.parametrize("cls", [MoCoV2, MoCoV3, BYOL], ids=lambda c: c.__name__)
def test_teacher_gets_no_gradient_and_moves(cls):
    model = small(cls)
    out = model.ssl_step(views(), LABELS)
    loss, features, _ = out.loss, out.features, out.logs
    loss.backward()
    assert features.shape == (8, model.num_features)
    assert all(p.grad is None and not p.requires_grad for p in model.teacher.parameters())
    assert all(p.grad is not None for p in model.backbone.parameters())
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    opt.step()
    student = nn.Sequential(model.backbone, model.projector)
    before = [p.clone() for p in model.teacher.parameters()]
    assert any(not torch.equal(b, s) for b, s in zip(before, student.parameters(), strict=True))
    model.after_optimizer_step()  # momentum 0.99 at step 0 for all three
    for b, t, s in zip(before, model.teacher.parameters(), student.parameters(), strict=True):
        torch.testing.assert_close(t, 0.99 * b + 0.01 * s)
    assert any(not torch.equal(b, t) for b, t in zip(before, model.teacher.parameters(), strict=True))


# Which loss arguments must carry gradients (True) and which are stop-gradient targets (False).
STOP_GRAD = {
    SimSiam: (simsiam_mod, "negative_cosine_similarity", (True, False)),  # D(p, stopgrad(z))
    BYOL: (byol_mod, "negative_cosine_similarity", (True, False)),  # online prediction vs target network
    MoCoV2: (mocov2_mod, "info_nce_with_queue", (True, False, False)),  # query vs key and queue
    MoCoV3: (mocov3_mod, "moco_v3_loss", (True, False)),  # query vs momentum key
    BarlowTwins: (barlow_mod, "barlow_twins_loss", (True, True)),  # both branches
    VICReg: (vicreg_mod, "vicreg_terms", (True, True)),  # both branches
}


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_stop_gradients_where_the_paper_puts_them(cls, monkeypatch):
    module, name, expected = STOP_GRAD[cls]
    seen: list[tuple[bool, ...]] = []
    real = getattr(module, name)

    def spy(*args, **kwargs):
        seen.append(tuple(a.requires_grad for a in args[: len(expected)]))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    small(cls).ssl_step(views(), LABELS)
    assert seen and all(s == expected for s in seen), seen


def test_simsiam_target_branch_gets_no_gradient():
    # Gradient through z2 must come only from p2 = h(z2): with the predictor frozen at zero output weights,
    # p is constant, so a correct stop-gradient leaves the backbone without any gradient at all.
    model = small(SimSiam)
    nn.init.zeros_(model.predictor[-1].weight)
    model.predictor.requires_grad_(False)
    loss = model.ssl_step(views(), LABELS).loss
    loss.backward()
    assert all(p.grad is None or p.grad.abs().max() == 0 for p in model.backbone.parameters())


def test_mocov2_queue_is_a_checkpointed_fifo():
    model = small(MoCoV2, queue_size=6)
    assert {"queue.features", "queue.ptr"} <= set(model.state_dict())
    k1, k2 = torch.randn(4, 8), torch.randn(4, 8)
    model.queue.push(k1)
    model.queue.push(k2)  # wraps: rows 4, 5 then 0, 1
    torch.testing.assert_close(model.queue.features[0:4], torch.cat([k2[2:4], k1[2:4]]))
    torch.testing.assert_close(model.queue.features[4:6], k2[:2])
    assert int(model.queue.ptr) == 2 and int(model.queue.count) == 6
    twin = small(MoCoV2, queue_size=6)
    twin.load_state_dict(model.state_dict())
    assert torch.equal(twin.queue.features, model.queue.features) and int(twin.queue.ptr) == 2


def test_mocov2_warns_when_queue_exceeds_dataset():
    model = small(MoCoV2, queue_size=4096)
    dm = FakeDataModule(num_samples=64, num_classes=3, image_size=16, batch_size=16, num_workers=0)
    with pytest.warns(UserWarning, match="queue_size=4096 exceeds"):
        quiet_trainer(1, limit_train_batches=1, limit_val_batches=0).fit(model, dm)
    assert int(model.queue.ptr) == 16


@pytest.mark.parametrize(
    "backbone,kwargs",
    [("resnet18", dict(cifar_stem=True)),
     ("vit_tiny_patch16_224", dict(backbone_kwargs={"img_size": 16, "patch_size": 4, "depth": 2},
                                   freeze_patch_embed=True))],
    ids=["resnet18", "vit"],
)
def test_mocov3_trains_resnet_and_vit(backbone, kwargs):
    torch.manual_seed(0)
    base = {**SMALL, "backbone": backbone, "backbone_kwargs": None, **kwargs}
    model = MoCoV3(**base)
    before = [p.clone() for p in model.teacher.parameters()]
    dm = FakeDataModule(num_samples=32, num_classes=3, image_size=16, batch_size=8, num_workers=0)
    trainer = quiet_trainer(1, limit_train_batches=2, limit_val_batches=1)
    trainer.fit(model, dm)
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
    assert any(not torch.equal(b, t) for b, t in zip(before, model.teacher.parameters(), strict=True))
    if "freeze_patch_embed" in kwargs:
        assert not any(p.requires_grad for p in model.backbone.patch_embed.parameters())


def test_mocov2_shuffled_keys_keep_input_order():
    model = small(MoCoV2, key_chunks=4)
    x = torch.randn(8, 3, 16, 16)
    model.teacher.eval()  # running statistics: chunking must not change any key, only BN batch statistics do
    torch.testing.assert_close(model.keys(x), model.teacher(x))
    model.teacher.train()  # batch statistics per shuffled chunk: keys differ from one whole-batch pass
    assert not torch.allclose(model.keys(x), model.teacher(x))
