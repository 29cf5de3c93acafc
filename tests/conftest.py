"""Suite-wide setup: under pytest-xdist (`make test` runs `-n 2`) each worker gets its share of the CPU cores as
torch threads, and OMP_NUM_THREADS for the subprocesses tests start, so two workers on two cores do not fight
over four threads."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
import torch
from helpers import cpu_share


def pytest_collection_modifyitems(config: object, items: list) -> None:
    """The learning tests (`slow`, up to a minute and a half each) first: xdist's `load` scheduler then spreads them
    over both workers from the start and the quick tests fill the gaps, instead of one worker ending alone on a
    long test."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_configure(config: object) -> None:
    torch.set_num_threads(cpu_share())
    os.environ.setdefault("OMP_NUM_THREADS", str(cpu_share()))  # subprocesses: CLI runs, DDP ranks, notebooks


@pytest.fixture
def one_thread():
    """One intra-op torch thread for the test (restored after): kornia's per-sample ops and tiny convs run fastest
    so, and the learning tests' margins were measured so. Under xdist's two workers it is already the setting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def sync_counter(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Counts the tensor calls that make the host wait for the device (`.item()`, `.tolist()`, `bool()`, `int()`,
    `float()`) and boolean-mask indexing, by name, while the test runs (tests/methods/test_host_sync.py)."""
    counts: Counter = Counter()
    for name in ("item", "tolist", "__bool__", "__int__", "__float__"):
        real = getattr(torch.Tensor, name)

        def spy(self: torch.Tensor, *args: Any, _real: Any = real, _name: str = name) -> Any:
            counts[_name] += 1
            return _real(self, *args)

        monkeypatch.setattr(torch.Tensor, name, spy)
    real_getitem = torch.Tensor.__getitem__

    def getitem(self: torch.Tensor, index: Any) -> Any:
        parts = index if isinstance(index, tuple) else (index,)
        if any(isinstance(p, torch.Tensor) and p.dtype == torch.bool for p in parts):
            counts["boolean mask index"] += 1
        return real_getitem(self, index)

    monkeypatch.setattr(torch.Tensor, "__getitem__", getitem)
    return counts
