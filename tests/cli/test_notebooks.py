"""The notebooks run top to bottom (tiny settings via VISION_SSL_FAST=1), so they never rot."""

from __future__ import annotations

import nbformat
import pytest
from helpers import DATA_ROOT, REPO
from nbclient import NotebookClient

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_SSL_FAST", "1")
    monkeypatch.setenv("VISION_SSL_DATA", DATA_ROOT)
    monkeypatch.setenv("VISION_SSL_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    # execute() raises CellExecutionError at the first cell that errors (allow_errors is off): that is the check
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
