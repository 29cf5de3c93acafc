"""DINO, SIGReg / LeJEPA and I-JEPA: the losses against their formulas, the stop-gradients and frozen layers where
the papers put them, the masking the encoders see. Their learning runs: tests/methods/test_learning.py."""

from __future__ import annotations

import math

import pytest
import torch

from vision_ssl.losses import DINOLoss, dino_loss, epps_pulley, invariance_loss, lejepa_loss, sigreg
from vision_ssl.losses.dino import teacher_temperature
from vision_ssl.methods import DINO, IJEPA, LeJEPA
from vision_ssl.methods.step import Views
from vision_ssl.transforms import MultiCropViews

TINY = dict(backbone="tiny", backbone_kwargs={"width": 8}, image_size=16, num_classes=3)
VIT = dict(backbone_kwargs={"patch_size": 4, "embed_dim": 24, "depth": 2, "num_heads": 2}, image_size=16,
           num_classes=3, predictor_dim=16, predictor_depth=1, predictor_heads=2)


# --- DINO -------------------------------------------------------------------------------------------------------

def reference_dino_loss(teacher, student, tau_t, tau_s, center):
    """Eq. 1 written as loops: H(P_t(x_i), P_s(x_j)) over every pair of different crops, averaged."""
    total, pairs = 0.0, 0
    for i in range(teacher.shape[0]):
        p_t = torch.softmax((teacher[i] - center) / tau_t, dim=-1)
        for j in range(student.shape[0]):
            if i == j:
                continue
            total = total - (p_t * torch.log_softmax(student[j] / tau_s, dim=-1)).sum(-1).mean()
            pairs += 1
    return total / pairs


def test_dino_loss_matches_the_formula_and_skips_same_crop_pairs():
    torch.manual_seed(0)
    teacher, student, center = torch.randn(2, 5, 7), torch.randn(4, 5, 7), torch.randn(7)
    got = dino_loss(teacher, student, 0.04, 0.1, center)
    torch.testing.assert_close(got, reference_dino_loss(teacher, student, 0.04, 0.1, center))
    # Same-crop pairs are left out: with one teacher crop, student crop 0 does not enter the loss at all.
    only_pair = dino_loss(teacher[:1], student[:2], 0.04, 0.1)
    torch.testing.assert_close(only_pair, reference_dino_loss(teacher[:1], student[:2], 0.04, 0.1, torch.zeros(7)))
    changed = student.clone()
    changed[0] = torch.randn(5, 7) * 10
    torch.testing.assert_close(dino_loss(teacher[:1], changed[:2], 0.04, 0.1), only_pair)  # pair (0, 0) skipped


def test_dino_loss_gives_the_teacher_no_gradient_and_rejects_bad_shapes():
    teacher, student = torch.randn(2, 3, 4, requires_grad=True), torch.randn(3, 3, 4, requires_grad=True)
    dino_loss(teacher, student).backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="must share B and K"):
        dino_loss(torch.randn(2, 3, 4), torch.randn(3, 3, 5))
    with pytest.raises(ValueError, match="temperatures must be positive"):
        dino_loss(torch.randn(2, 3, 4), torch.randn(2, 3, 4), teacher_temp=0.0)


def test_dino_centre_is_an_ema_of_the_teacher_mean_and_temperature_warms_up():
    loss = DINOLoss(out_dim=4, warmup_teacher_temp=0.04, teacher_temp=0.07, warmup_teacher_temp_epochs=10,
                    center_momentum=0.9)
    teacher = torch.randn(2, 6, 4)
    before = dino_loss(teacher, torch.randn(3, 6, 4), 0.04, 0.1, torch.zeros(4))
    assert torch.isfinite(before)
    loss(teacher, torch.randn(3, 6, 4), epoch=0.0)
    torch.testing.assert_close(loss.center, 0.1 * teacher.mean(dim=(0, 1)))  # c = 0.9 * 0 + 0.1 * mean
    loss(teacher, torch.randn(3, 6, 4), epoch=0.0)
    torch.testing.assert_close(loss.center, (0.9 * 0.1 + 0.1) * teacher.mean(dim=(0, 1)))
    assert "center" in loss.state_dict()  # checkpointed: a resume keeps the centre
    assert teacher_temperature(0, 0.04, 0.07, 10) == 0.04
    assert math.isclose(teacher_temperature(5, 0.04, 0.07, 10), 0.055)
    assert teacher_temperature(10, 0.04, 0.07, 10) == teacher_temperature(50, 0.04, 0.07, 10) == 0.07


def _dino(**kw):
    torch.manual_seed(0)
    return DINO(out_dim=32, hidden_dim=16, bottleneck_dim=8, augment=MultiCropViews(2, 2, local_size=8), **TINY, **kw)


def test_dino_teacher_sees_globals_only_gets_no_gradient_and_last_layer_waits_one_epoch():
    model = _dino(freeze_last_layer_epochs=1)
    images = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    views = model.make_views(images)
    assert [tuple(v.shape[-2:]) for v in views.images] == [(16, 16), (16, 16), (8, 8), (8, 8)]
    out = model.ssl_step(views, torch.zeros(4, dtype=torch.long))
    assert out.features.shape == (4, model.num_features)
    out.loss.backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert model.head.last_layer.parametrizations.weight.original1.grad is not None
    model.on_after_backward()  # epoch 0 < freeze_last_layer_epochs: the last layer's gradient is dropped
    assert all(p.grad is None for p in model.head.last_layer.parameters())
    assert all(p.grad is not None for p in model.backbone.parameters())  # the student's backbone trains
    # The weight-normalised last layer keeps unit row norms (g frozen at 1).
    g = model.head.last_layer.parametrizations.weight.original0
    assert not g.requires_grad and torch.all(g == 1)
    # The teacher follows the student by EMA after the step.
    before = [p.clone() for p in model.teacher.parameters()]
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(1.0)
    model.after_optimizer_step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.teacher.parameters(), strict=True))


def test_dino_with_a_vit_takes_local_crops_only_with_dynamic_img_size():
    kw = dict(backbone="vit_tiny_patch16_224", image_size=16, num_classes=3, out_dim=16, hidden_dim=16,
              bottleneck_dim=8, augment=MultiCropViews(2, 2, local_size=8))
    vit = {"patch_size": 4, "embed_dim": 24, "depth": 1, "num_heads": 2, "img_size": 16}
    with pytest.raises(ValueError, match="dynamic_img_size"):
        DINO(backbone_kwargs=vit, **kw)
    model = DINO(backbone_kwargs={**vit, "dynamic_img_size": True}, **kw)
    views = model.make_views(torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8))
    assert torch.isfinite(model.ssl_step(views, torch.zeros(2, dtype=torch.long)).loss)


# --- SIGReg / LeJEPA --------------------------------------------------------------------------------------------

def closed_form_epps_pulley(x: torch.Tensor) -> torch.Tensor:
    """N * int_R exp(-t^2/2) |phi_N(t) - exp(-t^2/2)|^2 dt, in closed form from Gaussian integrals:
    int e^{-t^2/2} cos(t d) dt = sqrt(2 pi) e^{-d^2/2}, int e^{-t^2} cos(t x) dt = sqrt(pi) e^{-x^2/4},
    int e^{-3 t^2 / 2} dt = sqrt(2 pi / 3)."""
    n = x.shape[0]
    d = x[:, None] - x[None, :]
    ecf_sq = math.sqrt(2 * math.pi) * torch.exp(-d**2 / 2).sum() / n**2
    cross = 2 * math.sqrt(math.pi) * torch.exp(-x**2 / 4).mean()
    return n * (ecf_sq - cross + math.sqrt(2 * math.pi / 3))


def test_epps_pulley_matches_its_integral_in_closed_form():
    torch.manual_seed(0)
    x = torch.cat([torch.randn(64, 1, dtype=torch.float64), torch.rand(64, 1, dtype=torch.float64) * 4 - 2], dim=1)
    fine = epps_pulley(x, t_max=8.0, num_knots=4001)  # the integral over R, to quadrature accuracy
    exact = torch.stack([closed_form_epps_pulley(x[:, i]) for i in range(2)])
    torch.testing.assert_close(fine, exact, rtol=1e-6, atol=1e-8)
    # The paper's 17 knots on [-5, 5] are within a few percent of it.
    torch.testing.assert_close(epps_pulley(x), exact, rtol=0.05, atol=0.05)


def test_sigreg_is_small_for_gaussians_and_large_for_collapse():
    torch.manual_seed(0)
    gaussian = sigreg(torch.randn(512, 16), num_slices=64)
    collapsed = sigreg(torch.randn(512, 1).expand(-1, 16) * 0.01, num_slices=64)
    shifted = sigreg(torch.randn(512, 16) + 2.0, num_slices=64)
    assert gaussian < 2.0 < shifted and collapsed > 2.0  # E[EP] is about 1/2 for Gaussian samples


def test_lejepa_loss_is_its_two_terms_and_every_view_gets_gradient():
    torch.manual_seed(0)
    z = torch.randn(4, 8, 6, requires_grad=True)
    inv = invariance_loss(z, 2)
    torch.testing.assert_close(inv, ((z[:2].mean(0, keepdim=True) - z) ** 2).mean())
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    loss, inv2, reg = lejepa_loss(z, 2, lambd=0.3, num_slices=5, generator=g1)
    a = torch.randn(6, 5, generator=g2)
    a = a / a.norm(dim=0, keepdim=True)
    expected_reg = torch.stack([epps_pulley(v @ a).mean() for v in z]).mean()
    torch.testing.assert_close(reg, expected_reg)
    torch.testing.assert_close(loss, 0.7 * inv2 + 0.3 * reg)
    loss.backward()
    assert all(z.grad[v].abs().sum() > 0 for v in range(4))  # no stop-gradient anywhere
    with pytest.raises(ValueError, match="lambd must be in"):
        lejepa_loss(z, 2, lambd=1.5)


def test_lejepa_step_has_no_teacher_and_trains_backbone_through_every_view():
    torch.manual_seed(0)
    model = LeJEPA(proj_hidden_dim=16, proj_output_dim=8, num_slices=8, augment=MultiCropViews(2, 2, local_size=8),
                   **TINY)
    assert not any(isinstance(m, DINO) for m in model.modules()) and not hasattr(model, "teacher")
    views = model.make_views(torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8))
    images = [v.clone().requires_grad_(True) for v in views.images]
    out = model.ssl_step(Views(images), torch.zeros(6, dtype=torch.long))
    out.loss.backward()
    assert all(v.grad.abs().sum() > 0 for v in images)
    assert {"invariance", "sigreg"} <= set(out.logs)


# --- I-JEPA -----------------------------------------------------------------------------------------------------

def test_ijepa_targets_have_no_gradient_and_context_sees_only_its_patches():
    torch.manual_seed(0)
    model = IJEPA(**VIT)
    views = model.make_views(torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8))
    ctx, tgt = views.extra["context"], views.extra["targets"]
    assert ctx.shape[0] == 3 and tgt.shape[:2] == (3, 4)
    for b in range(3):  # the context never contains a target patch
        assert not set(ctx[b].tolist()) & set(tgt[b].flatten().tolist())
    out = model.ssl_step(views, torch.zeros(3, dtype=torch.long))
    out.loss.backward()
    assert all(p.grad is None for p in model.backbone.parameters())  # the EMA target encoder: no gradient
    assert model.context_encoder.patch_embed.proj.weight.grad.abs().sum() > 0
    assert model.predictor.mask_token.grad.abs().sum() > 0
    # Changing the pixels of patches outside the context does not change the prediction.
    x = views.images[0]
    grid = model.grid[1]
    outside = torch.ones(3, grid * grid, dtype=torch.bool).scatter_(1, ctx, False)
    pix = outside.reshape(3, grid, grid).repeat_interleave(4, 1).repeat_interleave(4, 2)[:, None]
    with torch.no_grad():
        p1 = model.predict(x, ctx, tgt)
        p2 = model.predict(torch.where(pix, torch.randn_like(x), x), ctx, tgt)
    torch.testing.assert_close(p1, p2, rtol=1e-5, atol=1e-5)
    assert torch.equal(model(x), out.features)  # the probe reads the target encoder (as the paper evaluates)


def test_ijepa_rejects_a_conv_backbone():
    with pytest.raises(ValueError, match="I-JEPA needs a timm VisionTransformer"):
        IJEPA(backbone="tiny", backbone_kwargs={"width": 4}, image_size=16)


def test_ijepa_reference_masking_cuts_each_batch_to_its_minimum_and_trains():
    torch.manual_seed(0)
    model = IJEPA(masking="reference", **VIT)  # 4x4 grid: blocks in the top-left 3x3
    assert model.context_length is None  # no run-wide length: each batch is cut to its own minimum
    views = model.make_views(torch.randint(0, 256, (5, 3, 16, 16), dtype=torch.uint8))
    ctx, tgt = views.extra["context"], views.extra["targets"]
    last_row_or_col = {i for i in range(16) if i // 4 == 3 or i % 4 == 3}
    assert not (set(ctx.flatten().tolist()) | set(tgt.flatten().tolist())) & last_row_or_col
    out = model.ssl_step(views, torch.zeros(5, dtype=torch.long))
    out.loss.backward()
    assert model.context_encoder.patch_embed.proj.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="masking must be one of \\('uniform', 'reference'\\), got 'lightly'"):
        IJEPA(masking="lightly", **VIT)
