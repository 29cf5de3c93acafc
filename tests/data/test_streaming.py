"""Shards from `vision-ssl prepare-data` and `StreamingImageDataModule`, on a small folder the tests write.

What must hold: shards keep the source's encoded bytes, labels and class index; batches look like the other data
modules'; the val carve is exact and seeded; a run killed mid-epoch resumes without repeating or skipping a sample
(loader state in one process, a Lightning fit in one process, and `vision-ssl fit` with 2 gloo processes). Bad
input: tests/data/test_streaming_errors.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from helpers import REPO
from lightning.pytorch.callbacks import ModelCheckpoint
from litdata import StreamingDataset
from PIL import Image
from run_hooks import Killed, Recorder
from sample_files import CLASSES, key
from sample_files import streaming_module as module
from torchvision.io import decode_image

from vision_ssl.cli import main as cli
from vision_ssl.data.shards import META_FILE, prepare
from vision_ssl.methods import SimCLR


def test_prepare_keeps_encoded_bytes_labels_and_class_index(folder, shards, capsys):
    meta = json.loads((shards / META_FILE).read_text())
    assert meta["classes"] == CLASSES and meta["splits"] == {"train": 40, "val": 9}
    assert sorted(p.name for p in (shards / "train").glob("*.bin")) != ["chunk-0-0.bin"]  # several chunks
    raw = StreamingDataset(str(shards / "train"))
    samples = [raw[i] for i in range(len(raw))]
    names = [bytes(s["name"]).decode() for s in samples]
    assert sorted(names) == sorted(str(p.relative_to(folder / "train")) for p in (folder / "train").rglob("*.*"))
    for s, name in zip(samples, names, strict=True):
        src = folder / "train" / name
        assert s["label"] == CLASSES.index(Path(name).parent.name)
        if src.suffix == ".bmp":  # re-encoded losslessly
            stored = decode_image(torch.frombuffer(bytearray(s["image"]), dtype=torch.uint8))
            assert torch.equal(stored, torch.from_numpy(np.array(Image.open(src))).permute(2, 0, 1))
        else:
            assert bytes(s["image"]) == src.read_bytes()  # the file itself, not decoded pixels
    indices = [s["index"] for s in samples]
    assert sorted(indices) == list(range(40)) and indices != sorted(indices)  # seeded shuffle: chunks mix classes
    before = (shards / META_FILE).stat().st_mtime_ns
    cli(["prepare-data", str(folder), str(shards)])
    assert "already complete" in capsys.readouterr().out and (shards / META_FILE).stat().st_mtime_ns == before


# The writer, killed from inside its LitData worker at a chosen point: the first image encoded after the
# checkpoint records two written chunks (the checkpoint of the image before is on disk when the next is encoded).
KILLED_PREPARE = """
import json, os, signal, sys
from vision_ssl.data import shards
encode = shards.encode_file
checkpoint = os.path.join(sys.argv[2], "train", ".checkpoints", "checkpoint-0.json")

def encode_or_kill(path):
    if os.path.isfile(checkpoint) and len(json.load(open(checkpoint))["chunks"]) >= 2:
        os.killpg(os.getpgrp(), signal.SIGKILL)  # the writer and its worker, mid-split
    return encode(path)

shards.encode_file = encode_or_kill
shards.main(sys.argv[1:])
"""


def test_prepare_resumes_a_killed_run(folder, tmp_path, capsys):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", KILLED_PREPARE, str(folder), str(out), "--chunk-bytes", "4KB"],
                          env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    assert proc.returncode == -signal.SIGKILL, f"the writer exited with {proc.returncode}, not killed"
    assert not (out / META_FILE).exists(), "the first run finished before it was killed"
    first = out / "train" / "chunk-0-0.bin"
    kept = first.stat().st_mtime_ns
    prepare(str(folder), str(out), chunk_bytes="4KB")
    assert "resuming train" in capsys.readouterr().out
    assert first.stat().st_mtime_ns == kept  # the chunks written before the kill were kept, not rewritten
    raw = StreamingDataset(str(out / "train"))
    names = [bytes(raw[i]["name"]).decode() for i in range(len(raw))]
    assert len(names) == 40 and len(set(names)) == 40


def test_batches_carve_and_test_split(shards):
    dm = module(shards)
    dm.setup()
    assert dm.num_classes == 3
    train = [b for b in dm.train_dataloader()]
    assert len(train) == 36 // 4 and all(x.dtype == torch.uint8 and x.shape == (4, 3, 8, 8) for x, _ in train)
    assert all(0 <= int(y) < 3 for _, ys in train for y in ys)
    val = {key(x) for b in dm.val_dataloader() for x in b[0]}
    seen = [key(x) for b in train for x in b[0]]
    assert len(val) == 4 and len(set(seen)) == 36 and not val & set(seen)  # exact, disjoint carve
    again = module(shards)
    again.setup()
    assert {key(x) for b in again.val_dataloader() for x in b[0]} == val  # seeded
    other = module(shards, seed=1)
    other.setup()
    assert {key(x) for b in other.val_dataloader() for x in b[0]} != val
    assert sum(len(b[0]) for b in dm.test_dataloader()) == 9  # val/ is the test split
    gray = module(shards, channels=1, max_train_samples=12)
    gray.setup("fit")
    batches = list(gray.train_dataloader())
    assert len(batches) == 3 and batches[0][0].shape == (4, 1, 8, 8)


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_from_loader_state_is_exact(shards, workers):
    def loader():
        dm = module(shards, num_workers=workers)
        dm.setup("fit")
        return dm.train_dataloader()

    dl = loader()
    reference = [[key(x) for x in b[0]] for _ in range(2) for b in dl]
    assert reference[:9] != reference[9:]  # reshuffled each epoch
    dl = loader()
    it = iter(dl)
    got = [[key(x) for x in next(it)[0]] for _ in range(4)]
    state = dl.state_dict()
    del it
    resumed = loader()
    resumed.load_state_dict(state)
    got += [[key(x) for x in b[0]] for _ in range(2) for b in resumed]
    assert got == reference


def records(folder: Path, rank: int = 0) -> list[dict]:
    path = folder / f"rank{rank}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def simclr() -> SimCLR:
    return SimCLR(backbone="tiny", backbone_kwargs={"width": 4}, num_classes=3, image_size=8, proj_hidden_dim=16,
                  proj_output_dim=8)


def test_killed_fit_resumes_exactly_in_one_process(shards, tmp_path):
    """SimCLR's scheduler asks `estimated_stepping_batches`, which builds the loader before the checkpoint is read:
    the path where Lightning alone would restart the epoch."""

    def fit(out: Path, kill_at: int = -1, ckpt_path: str | None = None) -> list[dict]:
        out.mkdir(exist_ok=True)
        L.seed_everything(0)
        trainer = L.Trainer(accelerator="cpu", max_epochs=2, logger=False, enable_progress_bar=False,
                            enable_model_summary=False, limit_val_batches=0,
                            callbacks=[Recorder(str(out), kill_at, kill="raise"),
                                       ModelCheckpoint(out / "ckpt", save_last=True, save_top_k=0, every_n_train_steps=1)])
        try:
            trainer.fit(simclr(), module(shards, num_workers=2, batch_size=8), ckpt_path=ckpt_path)
        except Killed:
            assert kill_at >= 0
        return records(out)

    reference = fit(tmp_path / "unbroken")
    killed = fit(tmp_path / "killed", kill_at=3)
    last = tmp_path / "killed" / "ckpt" / "last.ckpt"
    step = torch.load(last, weights_only=True)["global_step"]
    resumed = fit(tmp_path / "resumed", ckpt_path=str(last))
    assert len(reference) == 2 * (36 // 8) and step == 2 and len(killed) == 3  # batch 2 trained, unsaved: comes again
    assert [r["keys"] for r in killed[:step] + resumed] == [r["keys"] for r in reference]


DDP_CONFIG = """
seed_everything: 0
trainer:
  accelerator: cpu
  devices: 2
  strategy: ddp
  max_epochs: 2
  limit_val_batches: 0
  enable_progress_bar: false
  enable_model_summary: false
  logger: {{class_path: lightning.pytorch.loggers.CSVLogger, init_args: {{save_dir: {logs}}}}}
checkpoint: {{dirpath: {ckpt}}}
last_checkpoint: {{every_n_train_steps: 1}}
model:
  class_path: vision_ssl.methods.SimCLR
  init_args: {{backbone: tiny, backbone_kwargs: {{width: 8}}, proj_hidden_dim: 16, proj_output_dim: 8}}
data:
  class_path: vision_ssl.data.StreamingImageDataModule
  init_args: {{root: {root}, image_size: 8, batch_size: 4, num_workers: 0}}
"""


def test_two_process_fit_through_the_cli_reads_per_rank_and_resumes_exactly(shards, tmp_path):
    config = tmp_path / "ddp.yaml"
    config.write_text(DDP_CONFIG.format(logs=tmp_path / "logs", ckpt=tmp_path / "ckpt", root=shards))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}

    def fit(out: Path, *extra: str) -> subprocess.CompletedProcess:
        out.mkdir()
        cmd = [sys.executable, "-m", "vision_ssl.cli", "fit", "-c", str(config), "--trainer.callbacks+=run_hooks.Recorder",
               f"--trainer.callbacks.out={out}", *extra]
        return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    first = fit(tmp_path / "killed", "--trainer.callbacks.kill_at=3")
    assert first.returncode == 3, first.stderr[-3000:]
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in first.stdout + first.stderr
    step = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["global_step"]
    second = fit(tmp_path / "resumed", "--ckpt_path", "last")
    assert second.returncode == 0, second.stderr[-3000:]
    per_epoch = 36 // 2 // 4  # batches per rank: 36 training images over 2 ranks, batches of 4
    for epoch in (0, 1):
        ranks = []
        for rank in (0, 1):
            killed, resumed = records(tmp_path / "killed", rank), records(tmp_path / "resumed", rank)
            run = [r for r in killed if r["step"] < step] + resumed
            batches = [r["keys"] for r in run if r["epoch"] == epoch]
            assert len(batches) == per_epoch  # nothing skipped
            ranks.append([k for b in batches for k in b])
        assert not set(ranks[0]) & set(ranks[1])  # each rank reads its own part
        assert len(set(ranks[0] + ranks[1])) == 2 * per_epoch * 4  # nothing repeated
