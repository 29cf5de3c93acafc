"""Checks of the benchmark entry points and of their committed results (run by `make test`, beside the unit tests)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def one_thread():
    """One intra-op torch thread for the test (restored after), as in tests/conftest.py."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
