"""A `vision-ssl fit` run leaves one `last.ckpt` holding the final step, prints none of the known noise lines
(jsonargparse's serialisation warning, Lightning's cloud-logger tip), logs no placeholder `hp_metric`, and a
half-precision config on a CPU runs in 32-true and says so in one line (bf16 stays where the CPU has bf16
instructions: there it is faster than fp32)."""

from __future__ import annotations

import logging
import warnings

import pytest
import torch
from helpers import REPO
from jsonargparse import Namespace

import vision_ssl.cli
from vision_ssl.cli import build_cli, cpu_precision
from vision_ssl.utils.checkpoint import AtomicCheckpointIO

DEMO = str(REPO / "configs" / "demo.yaml")
NOISE = ("Unable to serialize instance", "litlogger", "Tip:")


def _fit(tmp_path, *extra: str):  # noqa: ANN001, ANN202
    """Two epochs of 5 steps on fake data, `last.ckpt` every 4 steps: the last step (10) is no multiple of 4."""
    args = ["fit", "--config", DEMO, "--data", "vision_ssl.data.FakeDataModule",
            "--data.init_args.num_samples", "48", "--data.init_args.image_size", "16",
            "--data.init_args.batch_size", "8", "--trainer.max_epochs", "2", "--trainer.log_every_n_steps", "1",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
            "--trainer.logger.init_args.save_dir", str(tmp_path / "logs"), "--checkpoint.dirpath", str(tmp_path / "ck"),
            "--last_checkpoint.every_n_train_steps", "4", *extra]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cli = build_cli(args)
    return cli, [str(w.message) for w in caught]


@pytest.fixture(scope="module")
def fp16_run(tmp_path_factory):  # noqa: ANN001, ANN201
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("the precision fallback applies without a GPU")
    tmp_path = tmp_path_factory.mktemp("fit")
    return tmp_path, *_fit(tmp_path, "--trainer.precision", "16-mixed", "--trainer.accelerator", "auto")


def test_one_last_checkpoint_holding_the_final_step(fp16_run):
    tmp_path, cli, _ = fp16_run
    lasts = sorted(p.name for p in (tmp_path / "ck").glob("last*.ckpt"))
    assert lasts == ["last.ckpt"]
    assert cli.trainer.global_step == 10
    assert torch.load(tmp_path / "ck" / "last.ckpt", weights_only=False)["global_step"] == 10
    assert isinstance(cli.trainer.strategy.checkpoint_io, AtomicCheckpointIO)


def test_no_serialisation_warning_or_hp_metric(fp16_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tmp_path, _, caught = fp16_run
    assert not [m for m in caught if any(n in m for n in NOISE)]
    events = list((tmp_path / "logs").rglob("events.out.tfevents.*"))
    assert len(events) == 1
    acc = EventAccumulator(str(events[0]))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert "train/loss" in tags and "hp_metric" not in tags


def test_fp16_on_cpu_runs_in_fp32(fp16_run):
    _, cli, _ = fp16_run
    assert cli.trainer.precision == "32-true"
    assert cli.config.fit.trainer.precision == "32-true"  # what config.yaml records


def test_noise_and_fallback_lines_on_the_console(tmp_path, caplog, monkeypatch):
    """What Lightning prints goes through its loggers (caplog); warnings are recorded by `_fit`."""
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("the precision fallback applies without a GPU")
    monkeypatch.setattr(vision_ssl.cli, "cpu_has_native_bf16", lambda: False)
    with caplog.at_level(logging.INFO):
        _, caught = _fit(tmp_path, "--trainer.precision", "bf16-mixed", "--trainer.max_epochs", "1",
                         "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1")
    lines = [r.getMessage() for r in caplog.records] + caught
    assert not [line for line in lines if any(n in line for n in NOISE)]
    assert not [line for line in lines if "weights_only" in line]  # our final save names what it writes
    fallback = [line for line in lines if "runs as 32-true" in line]
    assert fallback == ["vision-ssl: no GPU, so trainer.precision bf16-mixed runs as 32-true (this half precision is "
                        "many times slower than fp32 on this CPU)"]


@pytest.mark.parametrize("precision,accelerator,gpu,bf16_cpu,expected", [
    ("bf16-mixed", "auto", False, False, "32-true"),
    ("bf16-mixed", "auto", False, True, None),  # bf16 instructions: faster than fp32, kept
    ("16-mixed", "auto", False, True, "32-true"),  # fp16 is slow on every CPU
    ("16-mixed", "cpu", True, False, "32-true"),  # asked for the CPU explicitly
    ("bf16-mixed", "auto", True, False, None),
    ("bf16-mixed", "gpu", False, False, None),  # Lightning itself reports the missing GPU
    ("32-true", "cpu", False, False, None),
    (16, "auto", False, False, "32-true"),
])
def test_cpu_precision_rule(monkeypatch, precision, accelerator, gpu, bf16_cpu, expected):
    monkeypatch.setattr(vision_ssl.cli, "cpu_has_native_bf16", lambda: bf16_cpu)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert cpu_precision(Namespace(precision=precision, accelerator=accelerator)) == expected
