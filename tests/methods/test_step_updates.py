"""Momentum teachers, their schedules and MoCo's queue move once per optimizer step, before the step's checkpoint:
one EMA move per accumulated step, and a run stopped after a `last.ckpt` resumes exactly as the unbroken run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from torch import nn

from vision_ssl.data import FakeDataModule
from vision_ssl.methods import BYOL, DINO, IJEPA, MoCoV2, MoCoV3
from vision_ssl.transforms.recipes import MultiCropViews
from vision_ssl.utils.checkpoint import LastCheckpoint

M = 0.9  # the teacher momentum at step 0 of every method below (a visible move)
SMALL = dict(backbone="tiny", backbone_kwargs={"width": 4}, image_size=16)
VIT = dict(backbone="vit_tiny_patch16_224", image_size=16,
           backbone_kwargs={"patch_size": 4, "embed_dim": 24, "depth": 1, "num_heads": 2})

# name -> (build the method, its teacher, the student the teacher follows)
METHODS: dict[str, tuple[Callable[[], L.LightningModule], Callable[[Any], nn.Module], Callable[[Any], nn.Module]]] = {
    "byol": (lambda: BYOL(proj_hidden_dim=16, proj_output_dim=8, base_momentum=M, **SMALL),
             lambda m: m.teacher, lambda m: nn.Sequential(m.backbone, m.projector)),
    "mocov2": (lambda: MoCoV2(proj_hidden_dim=16, proj_output_dim=8, queue_size=64, momentum=M, symmetric=True,
                              **SMALL),
               lambda m: m.teacher, lambda m: nn.Sequential(m.backbone, m.projector)),
    "mocov3": (lambda: MoCoV3(proj_hidden_dim=16, proj_output_dim=8, base_momentum=M, **SMALL),
               lambda m: m.teacher, lambda m: nn.Sequential(m.backbone, m.projector)),
    "dino": (lambda: DINO(out_dim=16, hidden_dim=16, bottleneck_dim=8, base_momentum=M, freeze_last_layer_epochs=0,
                          augment=MultiCropViews(2, 2, local_size=8), **SMALL),
             lambda m: m.teacher, lambda m: nn.Sequential(m.backbone, m.head)),
    "ijepa": (lambda: IJEPA(predictor_dim=16, predictor_depth=1, predictor_heads=2, base_momentum=M, **VIT),
              lambda m: m.backbone, lambda m: m.context_encoder),
}
BATCH = 4


def data() -> FakeDataModule:
    return FakeDataModule(num_samples=28, num_classes=4, image_size=16, batch_size=BATCH, num_workers=0)


def trainer(callbacks: list[L.Callback], **kw: Any) -> L.Trainer:
    return L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                     enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0, callbacks=callbacks,
                     **kw)


def params(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


class Snapshots(L.Callback):
    """Teacher and student parameters (and DINO's centre, MoCo's queue pointer) after every micro-batch."""

    def __init__(self, teacher: Callable[[Any], nn.Module], student: Callable[[Any], nn.Module]) -> None:
        self.teacher, self.student = teacher, student
        self.start: list[torch.Tensor] = []
        self.after: list[dict[str, Any]] = []

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = params(self.teacher(pl_module))

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.after.append({"teacher": params(self.teacher(pl_module)), "student": params(self.student(pl_module)),
                           "center": pl_module.criterion.center.clone() if hasattr(pl_module, "criterion") else None,
                           "queued": int(pl_module.queue.ptr) if hasattr(pl_module, "queue") else None})


@pytest.mark.parametrize("name", sorted(METHODS))
def test_one_ema_move_per_accumulated_step(name: str) -> None:
    """accumulate_grad_batches=3, one optimizer step: the teacher does not move during the first two micro-batches
    and after the third equals m * teacher_0 + (1 - m) * student_after_step, m the momentum of step 0."""
    k = 3
    build, teacher, student = METHODS[name]
    L.seed_everything(0)
    snaps = Snapshots(teacher, student)
    trainer([snaps], max_steps=1, accumulate_grad_batches=k, enable_checkpointing=False).fit(build(), data())
    assert len(snaps.after) == k
    for micro in snaps.after[:-1]:  # mid-accumulation: nothing has moved
        assert all(torch.equal(a, b) for a, b in zip(micro["teacher"], snaps.start, strict=True))
        assert micro["center"] is None or not micro["center"].any()
        assert micro["queued"] in (None, 0)
    last = snaps.after[-1]
    assert any(not torch.equal(s, t) for s, t in zip(last["student"], snaps.start, strict=True))  # the step ran
    for got, t0, s in zip(last["teacher"], snaps.start, last["student"], strict=True):
        torch.testing.assert_close(got, M * t0 + (1 - M) * s, rtol=1e-6, atol=1e-7)
    if last["center"] is not None:  # DINO's centre moved once: (1 - 0.9) * mean, non-zero
        assert last["center"].abs().sum() > 0
    if last["queued"] is not None:  # MoCo v2 (symmetric): both views' keys of all k micro-batches, after the step
        assert last["queued"] == 2 * k * BATCH


class Stopped(Exception):
    pass


class LossesAndStop(L.Callback):
    """Loss of every optimizer step (keyed by the step count after it); raises at the start of the batch after
    step `stop_at`, i.e. after `LastCheckpoint` (Lightning runs checkpoint callbacks last) saved that step."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.stop_at, self.losses = stop_at, {}

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if trainer.global_step == self.stop_at:
            raise Stopped

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.losses[trainer.global_step] = float(outputs["loss"])


def fit(name: str, folder: Path, stop_at: int | None = None, ckpt_path: str | None = None
        ) -> tuple[dict[int, float], dict[str, torch.Tensor]]:
    L.seed_everything(0)
    model, rec = METHODS[name][0](), LossesAndStop(stop_at)
    last = LastCheckpoint(dirpath=folder, save_top_k=0, save_last=True, every_n_train_steps=2,
                          enable_version_counter=False)
    try:
        trainer([rec, last], max_epochs=2).fit(model, data(), ckpt_path=ckpt_path)
    except Stopped:
        assert stop_at is not None
    return rec.losses, {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_stopped_after_a_checkpoint_resumes_as_the_unbroken_run(name: str, tmp_path: Path) -> None:
    """6 steps an epoch, 2 epochs; stopped after the checkpoint of step 8 (mid second epoch), resumed from it: the
    same losses at steps 9-12 and the same final weights, teacher, centre and queue as the unbroken run."""
    reference, final = fit(name, tmp_path / "unbroken")
    assert sorted(reference) == list(range(1, 13))
    stopped, _ = fit(name, tmp_path / "stopped", stop_at=8)
    assert max(stopped) == 8
    last = tmp_path / "stopped" / "last.ckpt"
    assert torch.load(last, weights_only=False)["global_step"] == 8
    resumed, resumed_final = fit(name, tmp_path / "resumed", ckpt_path=str(last))
    assert sorted(resumed) == list(range(9, 13))
    for step, loss in resumed.items():
        assert loss == pytest.approx(reference[step], rel=1e-6, abs=1e-7), step
    diff = max((resumed_final[k].float() - v.float()).abs().max().item() for k, v in final.items() if v.numel())
    assert diff <= 1e-6, f"final state differs by {diff} after the resume"
