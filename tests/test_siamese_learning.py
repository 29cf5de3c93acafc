"""Each Siamese-family method learns on real Fashion-MNIST: after a short CPU run, the linear probe on its
frozen backbone beats the same backbone at its random initial weights.

Short-run settings (measured with benchmarks/siamese_cpu.py, results in benchmarks/results/siamese_cpu.md):
the `tiny` backbone, small heads, AdamW, 2048 images, 128 optimizer steps. Only the methods that beat the
random twin at this budget are tested here (MoCo v3, VICReg). Measured at this same budget and NOT beating the
random twin (0.5820): Barlow Twins 0.5742, SimSiam 0.5703, BYOL 0.5293, MoCo v2 0.5020. With more data/steps
Barlow Twins (+3.1 points at 4096 images, 128 steps), SimSiam (+4.6 at 256 steps) and BYOL (+1.2 at 256 steps)
do beat it; MoCo v2 did not within 128 steps. Those runs take minutes each on this CPU, beyond the test budget.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from helpers import fashion_mnist, probe_vs_random

from vision_ssl.registry import METHODS, resolve

HEADS: dict[str, dict[str, Any]] = {
    "mocov3": dict(proj_hidden_dim=512, proj_output_dim=128, temperature=0.2),
    "vicreg": dict(proj_hidden_dim=512, proj_output_dim=512),
}
SAMPLES, BATCH, EPOCHS = 2048, 64, 4  # 128 optimizer steps
MARGIN = 0.01  # probe top-1 above the random-weights twin (512 validation images: +5 images)


@pytest.mark.slow
@pytest.mark.parametrize("method", list(HEADS))
def test_beats_random_weights_on_fashion_mnist(method):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # kornia's per-sample ops run several times faster single-threaded on a busy CPU
    try:
        trained, random = _run(method)
    finally:
        torch.set_num_threads(threads)
    assert trained > random + MARGIN, f"{method}: probe {trained:.4f} vs random weights {random:.4f}"


def _run(method: str) -> tuple[float, float]:
    torch.manual_seed(0)
    model = resolve(METHODS, method, "method")(
        backbone="tiny", backbone_kwargs={"width": 16}, image_size=28, warmup_epochs=0.5,
        augment={"crop_scale": (0.2, 1.0)},
        optimizer=lambda groups: torch.optim.AdamW(groups, lr=2e-3, weight_decay=1e-4), **HEADS[method],
    )
    dm = fashion_mnist(max_train_samples=SAMPLES, batch_size=BATCH)
    return probe_vs_random(model, dm, max_epochs=EPOCHS)
