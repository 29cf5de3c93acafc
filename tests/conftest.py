"""Suite-wide setup: under pytest-xdist (`make test` runs `-n 2`) each worker gets its share of the CPU cores as
torch threads, and OMP_NUM_THREADS for the subprocesses tests start, so two workers on two cores do not fight
over four threads."""

from __future__ import annotations

import os

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
