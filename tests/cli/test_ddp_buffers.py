"""The CLI's DDP runs without DDP's per-forward broadcast of rank 0's buffers where ours are rank-identical
anyway, keeps it where BatchNorm statistics would be rank-local, and never overrides a configured value."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lightning.pytorch.strategies import DDPStrategy

from vision_ssl.cli import FORWARD_SYNC, build_cli
from vision_ssl.methods.checks import NonFiniteWatch

VIT = "{patch_size: 4, embed_dim: 24, depth: 1, num_heads: 2}"


def _strategy(tmp_path: Path, *extra: str) -> object:
    args = ["--data", "vision_ssl.data.FakeDataModule", "--data.init_args.image_size=16",
            "--trainer.accelerator=cpu", "--trainer.devices=2", "--trainer.logger=false",
            "--checkpoint.dirpath", str(tmp_path), *extra]
    return build_cli(args, run=False).trainer.strategy  # nothing is spawned before fit


TINY = ("--model", "vision_ssl.methods.SimCLR", "--model.init_args.backbone=tiny")
CASES = {  # extra args -> forward buffer sync given to DistributedDataParallel (None: DDP's default, True)
    "batchnorm_without_sync": ((*TINY, "--trainer.strategy=ddp"), None),
    "batchnorm_with_sync_batchnorm": ((*TINY, "--trainer.strategy=ddp", "--trainer.sync_batchnorm=true"), False),
    "vit_layernorm_only": (("--model", "vision_ssl.methods.MAE", "--model.init_args.backbone=vit_tiny_patch16_224",
                            f"--model.init_args.backbone_kwargs={VIT}",
                            "--trainer.strategy=ddp"), False),
    "configured_value_kept": ((*TINY, "--trainer.sync_batchnorm=true", "--trainer.strategy",
                               '{"class_path": "lightning.pytorch.strategies.DDPStrategy", '
                               '"init_args": {"broadcast_buffers": true}}'), True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_broadcast_buffers(case: str, tmp_path: Path) -> None:
    extra, expected = CASES[case]
    strategy = _strategy(tmp_path, *extra)
    assert isinstance(strategy, DDPStrategy)
    kwargs = strategy._ddp_kwargs
    if case == "configured_value_kept":  # the user's broadcast_buffers, and nothing of ours beside it
        assert kwargs["broadcast_buffers"] is True and kwargs.get(FORWARD_SYNC) is None
    else:
        assert kwargs.get(FORWARD_SYNC) is expected


def test_one_device_is_untouched(tmp_path: Path) -> None:
    strategy = _strategy(tmp_path, *TINY, "--trainer.devices=1")
    assert not isinstance(strategy, DDPStrategy)


def test_non_finite_flag_is_read_in_one_process() -> None:
    watch = NonFiniteWatch()
    watch.record(torch.tensor(1.0), {}, 0)
    watch.check(1)  # finite: nothing raised
    watch.record(torch.tensor(float("nan")), {}, 3)
    with pytest.raises(FloatingPointError, match="global step 3"):
        watch.check(4)
