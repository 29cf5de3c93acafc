"""The README's quickstart runs as written: the CLI block and the Python block, in a folder holding `photos/` (80
images of mixed formats, modes and sizes, some in a subfolder), the repository's `configs/` and the data in `data/`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sample_files import write_photos

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"


def quickstart_blocks() -> dict[str, str]:
    """The fenced blocks of the README's quickstart section, by language."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Quickstart: pretrain on your own photos", 1)[1].split("\n## ", 1)[0]
    return {lang: code for lang, code in re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S)}


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "FashionMNIST").is_dir(), reason="needs Fashion-MNIST in data/ (make data)")
def test_quickstart_runs_as_written(tmp_path):
    blocks = quickstart_blocks()
    assert {"bash", "python"} <= set(blocks)
    write_photos(tmp_path / "photos")
    (tmp_path / "configs").symlink_to(REPO / "configs")
    (tmp_path / "data").symlink_to(DATA)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(REPO)}
    cli = subprocess.run(["bash", "-euo", "pipefail", "-c", blocks["bash"]], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=900)
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert "kNN top-1" in cli.stdout
    ckpts = sorted(p.name for p in (tmp_path / "runs" / "photos").iterdir())
    assert "last.ckpt" in ckpts and any(p.startswith("best-") for p in ckpts), ckpts
    assert (tmp_path / "photos.pt").is_file() and (tmp_path / "encoder.pt").is_file()
    py = subprocess.run([sys.executable, "-c", blocks["python"] + "\nprint('features', tuple(features.shape))"],
                        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert py.returncode == 0, py.stderr[-3000:]
    assert "features (80, 512)" in py.stdout
