"""The clip methods have the image base's guarantees: no Python-visible host sync in the training step, a non-finite
watch, a checkpoint record (so the evaluators, `export` and `load_encoder` take the frame encoder), no online probe
without labels."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import torch

import vision_ssl
from vision_ssl.cli import main
from vision_ssl.methods.next_frame import NextFramePredictor
from vision_ssl.methods.video_base import VideoMethod
from vision_ssl.methods.video_jepa import VideoJEPA

SMALL = {
    "next_frame": (NextFramePredictor, dict(image_size=16, in_chans=1, g_dim=16, z_dim=4, rnn_size=32, width=8,
                                            context_frames=3, num_samples=3)),
    "video_jepa": (VideoJEPA, dict(image_size=16, in_chans=1, dim=8, width=4, hidden=16, z_dim=2, context_frames=3,
                                   num_samples=4)),
}


def _clips(b: int = 4, t: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    clips = torch.randint(0, 256, (b, t, 1, 16, 16), dtype=torch.uint8, generator=g)
    labels = torch.tensor([[1, 2], [3, -1], [-1, -1], [0, 9]])[:b]  # one clip without a known digit
    return clips, labels


@pytest.mark.parametrize("name", SMALL)
def test_training_step_has_no_python_visible_host_sync(name: str, sync_counter: Counter) -> None:  # noqa: F811
    cls, kw = SMALL[name]
    torch.manual_seed(0)
    model = cls(**kw)
    sync_counter.clear()
    loss = model.training_step(_clips(), 1)
    assert not sync_counter, f"{name}: {dict(sync_counter)}"
    assert torch.isfinite(loss)


@pytest.mark.parametrize("name", SMALL)
def test_probe_weighs_only_clips_with_labels_and_is_absent_without_labels(name: str) -> None:
    cls, kw = SMALL[name]
    assert cls(**{**kw, "num_classes": 0}).probe is None
    model = cls(**kw)
    logged: dict[str, Any] = {}
    model.log = lambda key, value, **_: logged.__setitem__(key, value)  # type: ignore[method-assign]
    from vision_ssl.methods.video_base import multi_label_probe

    h = torch.randn(4, model.num_features)
    _, labels = _clips()
    loss = multi_label_probe(model, model.probe, h, labels, "val")
    keep = torch.tensor([0, 1, 3])
    expected = multi_label_probe(model, model.probe, h[keep], labels[keep], "val")
    torch.testing.assert_close(loss, expected)  # the unlabelled clip weighs nothing


def test_a_non_finite_loss_stops_at_the_next_check() -> None:
    cls, kw = SMALL["video_jepa"]
    model = cls(**kw)
    clips, labels = _clips()
    from vision_ssl.methods.step import StepOutput

    model.ssl_step = lambda views, labels: StepOutput(torch.tensor(float("nan"), requires_grad=True),  # type: ignore[method-assign]
                                                      torch.zeros(4, model.num_features))
    model.training_step((clips, labels), 0)
    with pytest.raises(FloatingPointError, match="non-finite loss at global step 0"):
        model.finite.check(1)


@pytest.fixture(scope="module")
def video_checkpoint(tmp_path_factory) -> str:
    from helpers import DATA_ROOT

    out = tmp_path_factory.mktemp("video")
    main(["fit", "--model=vision_ssl.methods.VideoJEPA", "--model.dim=8", "--model.width=4", "--model.hidden=16",
          "--model.z_dim=2", "--model.context_frames=3", "--model.num_samples=2",
          "--data=vision_ssl.data.StochasticMovingMNISTDataModule", f"--data.root={DATA_ROOT}", "--data.image_size=16",
          "--data.context_frames=3", "--data.future_frames=2", "--data.batch_size=4", "--data.train_clips=16",
          "--data.val_clips=4", "--data.test_clips=4", "--data.num_workers=0", "--trainer.accelerator=cpu",
          "--trainer.max_epochs=1", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
          f"--trainer.logger.init_args.save_dir={out}", f"--checkpoint.dirpath={out / 'ckpt'}"])
    return str(out / "ckpt" / "last.ckpt")


def test_video_checkpoint_records_its_method_and_feeds_the_image_tools(video_checkpoint: str, tmp_path) -> None:
    ckpt = torch.load(video_checkpoint, map_location="cpu", weights_only=False)
    assert ckpt["vision_ssl"]["method"].endswith("VideoJEPA")
    encoder = vision_ssl.load_encoder(video_checkpoint)
    frames = torch.randint(0, 256, (5, 1, 16, 16), dtype=torch.uint8)
    features = vision_ssl.embed(encoder, frames)
    assert features.shape == (5, 8)
    model = VideoJEPA.load_from_checkpoint(video_checkpoint, map_location="cpu").eval()
    assert isinstance(model, VideoMethod)
    torch.testing.assert_close(features, model(frames.float() / 255).detach())
    line = vision_ssl.export_backbone(video_checkpoint, str(tmp_path / "encoder.pt"))
    scope: dict[str, Any] = {"torch": torch}
    exec(line, scope)  # noqa: S102 - the printed loader line, run as a user would
    torch.testing.assert_close(scope["m"].eval()(frames.float() / 255)[0], features)


def test_evaluators_take_a_video_checkpoint_with_image_data(video_checkpoint: str, capsys) -> None:
    with pytest.raises(ValueError, match="clip method's checkpoint.*--data"):
        main(["knn", video_checkpoint])
    main(["knn", video_checkpoint, "--data", "fake", "--k", "5"])
    assert "kNN top-1" in capsys.readouterr().out
