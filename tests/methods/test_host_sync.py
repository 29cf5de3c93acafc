"""The training step of every image method makes no host sync that Python can see: no `.item()`, `bool()`,
`int()`, `float()` or `.tolist()` of a tensor and no boolean-mask indexing, from the view augmentation
(`on_after_batch_transfer`) through `training_step` and the monitor's bank update. On a GPU,
`benchmarks/gpu_check.sh` checks the same with `torch.cuda.set_sync_debug_mode("error")`, which also sees syncs
inside C++ kernels."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from helpers import recipe

from vision_ssl.eval.monitor import ValidationMonitor
from vision_ssl.registry import IMAGE_METHODS


class _Trainer:  # the bits of a Trainer that on_after_batch_transfer reads
    training = True


@pytest.mark.parametrize("name", IMAGE_METHODS)
def test_training_step_has_no_python_visible_host_sync(name: str, sync_counter: Counter) -> None:
    torch.manual_seed(0)
    model, _ = recipe(name, image_size=16, width=8)
    model.aug_seed = 0
    monitor = ValidationMonitor(bank_size=32)
    images = torch.randint(0, 256, (8, 1, 16, 16), dtype=torch.uint8)  # gray: expanded on the device
    labels = torch.tensor([0, 1, 2, 3, -1, 5, 6, 7])  # one unlabelled image
    model._trainer = _Trainer()  # type: ignore[assignment]
    batch = model.on_after_batch_transfer((images, labels), 0)
    model._trainer = None
    sync_counter.clear()  # count from the step on: building the model may sync, the step must not
    out = model.training_step(batch, 1)
    monitor.on_train_batch_end(None, model, out, batch, 1)  # type: ignore[arg-type]
    assert not sync_counter, f"{name}: {dict(sync_counter)}"
    assert torch.isfinite(out["loss"])
