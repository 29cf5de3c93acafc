"""Fixtures of the shard tests: one small labelled image folder and its shards, written once per module."""

from __future__ import annotations

from pathlib import Path

import pytest
from sample_files import write_folder, write_shards


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_folder(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="module")
def shards(folder, tmp_path_factory) -> Path:
    return write_shards(folder, tmp_path_factory.mktemp("shards") / "mine")
