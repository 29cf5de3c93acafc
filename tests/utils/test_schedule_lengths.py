"""The default warm-up + cosine is sized in the optimizer steps the trainer actually runs, whichever way the run
is bounded (max_epochs, max_steps alone, limit_train_batches, gradient accumulation)."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from vision_ssl.utils.optim import build_optimization

BASE_LR = 1e-3  # build_optimization's default AdamW


class LRRecorder(L.LightningModule):
    """A linear model whose `configure_optimizers` is `build_optimization`'s default; records the LR of every
    optimizer step (the same for each micro-batch of an accumulation)."""

    def __init__(self, num_samples: int, warmup_epochs: float) -> None:
        super().__init__()
        self.net, self.num_samples, self.warmup_epochs = nn.Linear(2, 1), num_samples, warmup_epochs
        self.lrs: dict[int, float] = {}

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        self.lrs[self.global_step] = self.optimizers().param_groups[0]["lr"]  # type: ignore[union-attr]
        return self.net(batch[0]).square().mean()

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(torch.randn(self.num_samples, 2)), batch_size=4)

    def configure_optimizers(self) -> Any:
        return build_optimization([{"params": self.net.parameters()}], self.trainer, None, None, self.warmup_epochs)


def expected_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up to 1 over `warmup` steps, then a half cosine to 0 at `total`, written out here."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))


# (trainer kwargs, images, warmup_epochs, optimizer steps per epoch, expected total steps); batches of 4
CASES = {
    "max_epochs": (dict(max_epochs=4), 40, 1.5, 10, 40),
    "max_steps_only": (dict(max_steps=25), 40, 1.5, 10, 25),
    "max_steps_before_max_epochs": (dict(max_epochs=5, max_steps=30), 40, 1.0, 10, 30),
    "limit_train_batches": (dict(max_epochs=4, limit_train_batches=0.5), 40, 1.2, 5, 20),
    "accumulate_2": (dict(max_epochs=3, accumulate_grad_batches=2), 44, 1.5, 6, 18),  # 11 batches: ceil(11 / 2)
    "accumulate_2_max_steps": (dict(max_steps=14, accumulate_grad_batches=2), 40, 1.2, 5, 14),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_warmup_and_cosine_in_optimizer_steps(case: str) -> None:
    kwargs, images, warmup_epochs, per_epoch, total = CASES[case]
    model = LRRecorder(images, warmup_epochs)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, **kwargs)
    trainer.fit(model)
    warmup = round(warmup_epochs * per_epoch)
    assert sorted(model.lrs) == list(range(total))  # the schedule covers exactly the steps that ran
    for step in (0, warmup - 1, warmup, total - 1):
        assert model.lrs[step] == pytest.approx(BASE_LR * expected_factor(step, warmup, total), rel=1e-6), step
    assert model.lrs[warmup - 1] == pytest.approx(BASE_LR)  # the warm-up ends at the peak, not at the run's end
    assert model.lrs[total - 1] < model.lrs[warmup] * 0.05  # and the cosine reaches ~0 at the last step
