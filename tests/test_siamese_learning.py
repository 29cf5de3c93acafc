"""Each Siamese-family method learns on real Fashion-MNIST: after a short CPU run, the linear probe on its
frozen backbone beats the same backbone at its random initial weights.

Protocol (the shared recipe `build_method` in helpers.py; numbers in benchmarks/results/siamese_cpu.md): the
`tiny` backbone (width 16, 64 features), 4096 training images, batch 64, 4 epochs = 256 optimizer steps, one
torch thread; linear probe 30 epochs at lr 3e-3 on the 1024 validation images. 256 steps over 4096 images is the
shortest budget at which every method beat its random twin in the measurements: at 128 steps, or 256 steps over
2048 images, BYOL and SimSiam stayed below it.
"""

from __future__ import annotations

import pytest
import torch
from helpers import build_method, fashion_mnist, probe_vs_random

SAMPLES, BATCH, EPOCHS = 4096, 64, 4  # 256 optimizer steps
MARGIN = 0.01  # probe top-1 above the random-weights twin (1024 validation images: +10 images)
METHODS = ("mocov2", "mocov3", "byol", "simsiam", "barlow_twins", "vicreg")


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")  # the protocol the margins were measured with
@pytest.mark.parametrize("method", METHODS)
def test_beats_random_weights_on_fashion_mnist(method):
    torch.manual_seed(0)
    model = build_method(method)
    trained, random = probe_vs_random(model, fashion_mnist(max_train_samples=SAMPLES, batch_size=BATCH), EPOCHS)
    print(f"{method}: probe {trained:.4f} vs random weights {random:.4f}")
    assert trained > random + MARGIN, f"{method}: probe {trained:.4f} vs random weights {random:.4f}"
