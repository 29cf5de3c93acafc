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


def section_commands(title: str) -> list[list[str]]:
    """The `vision-ssl` commands of the bash blocks of README section `title`, split like a shell (comments and
    `;`-joined commands handled)."""
    import shlex

    text = (REPO / "README.md").read_text()
    section = text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("#", 1)[0].split(";"):
                if part.strip().startswith("vision-ssl"):
                    commands.append(shlex.split(part)[1:])
    return commands


def test_train_commands_parse_and_build_as_written(tmp_path, monkeypatch):
    """Every `vision-ssl fit` line of the README's Train section builds its trainer, model and data (training itself
    runs hours; the quickstart test trains); `--help` lines print help and exit 0."""
    from vision_ssl.cli import build_cli

    commands = section_commands("Train")
    assert len(commands) >= 4
    monkeypatch.chdir(REPO)  # configs/ and data/ as written
    for args in commands:
        if any(a.endswith("help") for a in args):
            out = subprocess.run([sys.executable, "-m", "vision_ssl.cli", *args], capture_output=True, text=True,
                                 env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
            assert out.returncode == 0 and "usage" in out.stdout.lower(), (args, out.stderr[-2000:])
            continue
        assert args[0] == "fit", args
        if "--ckpt_path" in args:  # a fit argument, not the model's, data's or trainer's: check it, then build
            i = args.index("--ckpt_path")
            assert args[i + 1] == "last", args
            args = args[:i] + args[i + 2 :]
        cli = build_cli([*args[1:], "--trainer.logger.init_args.save_dir", str(tmp_path)], run=False)
        assert cli.model is not None and cli.datamodule is not None, args


@pytest.mark.slow
def test_evaluate_commands_run_as_written(tmp_path, monkeypatch, capsys):
    """The README's Evaluate section, each command run as written with CKPT naming a small real checkpoint."""
    from vision_ssl.cli import main

    ckpt = tmp_path / "ckpt" / "last.ckpt"
    main(["fit", "--model=vision_ssl.methods.SimCLR", "--model.backbone=tiny", "--model.backbone_kwargs={width: 4}",
          "--model.proj_hidden_dim=16", "--model.proj_output_dim=8", "--data=vision_ssl.data.FakeDataModule",
          "--data.num_samples=64", "--data.image_size=16", "--data.batch_size=8", "--data.num_workers=0",
          "--trainer.max_epochs=1", "--trainer.accelerator=cpu", "--trainer.enable_progress_bar=false",
          f"--trainer.logger.init_args.save_dir={tmp_path}", f"--checkpoint.dirpath={ckpt.parent}"])
    monkeypatch.chdir(tmp_path)
    commands = section_commands("Evaluate")
    assert [c[0] for c in commands] == ["probe", "knn", "finetune", "report"]
    for args in commands:
        main([a.replace("CKPT", str(ckpt)) for a in args])
    out = capsys.readouterr().out
    assert out.count("random weights") >= 2 and (tmp_path / "results" / "NAME" / "report.md").is_file()
