"""Speed options (vision_ssl/utils/speed.py): channels_last weights and views, torch.compile of the encoders in
place, set from YAML through the CLI; I-JEPA's one context length per run, so its encoder compiles once."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import REPO, cli_args_for, quiet_trainer

from vision_ssl.cli import build_cli
from vision_ssl.methods import IJEPA, SimCLR
from vision_ssl.methods.step import Views
from vision_ssl.utils.speed import SpeedOptions

DEMO = dict(backbone="tiny", backbone_kwargs={"width": 16}, image_size=28, proj_hidden_dim=64, proj_output_dim=32)


def _four_d_params_channels_last(module: torch.nn.Module) -> list[bool]:
    return [p.is_contiguous(memory_format=torch.channels_last) for p in module.parameters() if p.dim() == 4]


def test_arguments_are_validated():
    with pytest.raises(ValueError, match=r"compile_mode must be one of default, reduce-overhead, .*got 'fast'"):
        SpeedOptions(compile=True, compile_mode="fast")
    with pytest.raises(ValueError, match=r"compile_backend must be one of .*inductor.*got 'nvfuser2'"):
        SpeedOptions(compile=True, compile_backend="nvfuser2")
    with pytest.raises(ValueError, match="need speed.compile: true"):
        SpeedOptions(compile_mode="max-autotune")


def test_channels_last_weights_and_views():
    model = SimCLR(**DEMO)
    assert not all(_four_d_params_channels_last(model.backbone))
    cb = SpeedOptions(channels_last=True)
    cb.setup(quiet_trainer(), model, "fit")
    flags = _four_d_params_channels_last(model)
    assert flags and all(flags)
    views = Views([torch.randn(4, 3, 28, 28), torch.randn(4, 3, 28, 28), torch.randn(4, 1, 2, 8, 8)])
    cb.on_train_batch_start(quiet_trainer(), model, (views, torch.zeros(4)), 0)
    assert all(v.is_contiguous(memory_format=torch.channels_last) for v in views.images[:2])
    assert views.images[2].is_contiguous()  # a 5-D clip is left as it was


def _fit(config: Path, tmp_path: Path, *extra: str):  # type: ignore[no-untyped-def]
    args = cli_args_for(config, tmp_path)
    args.remove("--speed.compile")
    args.remove("false")
    return build_cli(args + list(extra))


@pytest.mark.parametrize("config", ["demo", pytest.param("ijepa_fashion_mnist", marks=pytest.mark.slow)])  # 30 s
def test_speed_keys_from_the_cli_reach_the_model(config, tmp_path):
    # `eager` traces with TorchDynamo but generates no kernels: the wiring, quickly; the inductor test is below.
    cli = _fit(REPO / "configs" / f"{config}.yaml", tmp_path, "--speed.channels_last", "true", "--speed.compile",
               "true", "--speed.compile_backend", "eager")
    model = cli.model
    names = ("backbone",) if config == "demo" else ("backbone.blocks", "context_encoder.blocks")
    for name in names:
        assert model.get_submodule(name)._compiled_call_impl is not None
    assert all(_four_d_params_channels_last(model))
    assert "backbone._orig_mod" not in str(list(model.state_dict()))  # compiled in place: checkpoint keys unchanged
    assert (tmp_path / "ckpt" / "last.ckpt").is_file()


def test_gpu_configs_turn_speed_on():
    for name in ("simclr_cifar10", "ijepa_cifar10", "supervised_cifar10", "simclr_shards"):
        text = (REPO / "configs" / f"{name}.yaml").read_text()
        assert "speed: {channels_last: true, compile: true}" in text, name
    assert "speed:" not in (REPO / "configs" / "demo.yaml").read_text()  # CPU configs leave it off


def test_ijepa_context_length_is_fixed_across_batches():
    model = IJEPA(backbone_kwargs={"patch_size": 4, "embed_dim": 24, "depth": 2, "num_heads": 2}, image_size=32,
                  predictor_dim=16, predictor_depth=1, predictor_heads=2)
    images = torch.randint(0, 256, (32, 3, 32, 32), dtype=torch.uint8)
    lengths = set()
    for step in range(4):
        model.aug_step = step  # a new seed per batch: new block shapes, as in training
        lengths.add(model.make_views(images).extra["context"].shape[1])
    assert lengths == {model.context_length}


@pytest.mark.slow
def test_inductor_compiled_demo_backbone_matches_eager(one_thread):
    torch.manual_seed(0)
    model = SimCLR(**DEMO)
    eager = SimCLR(**DEMO)
    eager.load_state_dict(model.state_dict())
    SpeedOptions(channels_last=True, compile=True).setup(quiet_trainer(), model, "fit")
    x = torch.randn(16, 3, 28, 28)
    out = model.backbone(x.contiguous(memory_format=torch.channels_last))
    ref = eager.backbone(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    out.square().sum().backward()
    ref.square().sum().backward()
    for p, q in zip(model.backbone.parameters(), eager.backbone.parameters(), strict=True):
        # Fused kernels sum in another order: near-zero entries (a BatchNorm bias) differ by ~1e-5 of the largest.
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-3, atol=1e-3 * q.grad.abs().max().item())
