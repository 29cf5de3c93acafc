"""Every YAML under configs/ trains through the CLI entry point with fast_dev_run."""

from __future__ import annotations

import pytest
from helpers import CONFIGS, cli_args_for

from vision_ssl.cli import main


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_config_fast_dev_run(config, tmp_path):
    main(cli_args_for(config, tmp_path))
    assert (tmp_path / "ckpt" / "last.ckpt").is_file()
