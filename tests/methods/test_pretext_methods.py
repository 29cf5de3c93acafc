"""Context-pretext methods: what each encoder sees, the reconstruction grid in TensorBoard. Their learning runs
(pretext learned, probe above the random twin): tests/methods/test_learning.py."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from vision_ssl.methods import MAE, Inpainting, Jigsaw, Rotation
from vision_ssl.methods.step import Views
from vision_ssl.transforms import mask_to_pixels, random_patch_mask, random_patch_split

TINY = dict(backbone="tiny", backbone_kwargs={"width": 8}, image_size=28, warmup_epochs=0.25)
VIT = dict(backbone_kwargs={"patch_size": 4, "embed_dim": 48, "depth": 2, "num_heads": 3}, image_size=28,
           decoder_dim=32, decoder_depth=1, decoder_heads=2, warmup_epochs=0.25)


def test_mae_encoder_sees_only_visible_patches_and_probe_sees_full_image():
    torch.manual_seed(0)
    model = MAE(**VIT).eval()
    x = torch.randn(2, 3, 28, 28)
    mask, keep = random_patch_split(2, 49, 0.75)
    assert torch.equal(keep, (~mask).nonzero()[:, 1].reshape(2, -1))  # the visible patches, in patch order
    hidden = mask_to_pixels(mask, 4, 28, 28)
    tokens = model.encode_visible(x, keep)
    assert tokens.shape == (2, 1 + 49 - 37, 48)  # the class token, then the visible patches
    # Hidden pixels do not reach the encoder: changing them leaves the visible tokens unchanged.
    assert torch.allclose(model.encode_visible(torch.where(hidden, torch.randn_like(x), x), keep), tokens, atol=1e-5)
    # With nothing hidden the same path is timm's own forward_features (positions, class token, norm).
    every = torch.arange(49).expand(2, -1)
    assert torch.allclose(model.encode_visible(x, every), model.backbone.forward_features(x), atol=1e-5)
    # The decoder puts each visible token back at its own position: the same prediction whatever their order.
    perm = torch.cat([torch.zeros(1, dtype=torch.long), 1 + torch.randperm(keep.shape[1])])
    assert torch.allclose(model.decoder(tokens[:, perm], keep[:, perm[1:] - 1], 1), model.decoder(tokens, keep, 1),
                          atol=1e-5)  # fmt: skip
    # The class token's output takes part in the decoding (it attends with the patches).
    assert not torch.allclose(model.decoder(torch.cat([tokens[:, :1] + 1, tokens[:, 1:]], 1), keep, 1),
                              model.decoder(tokens, keep, 1), atol=1e-4)  # fmt: skip
    # The probe path (`forward`) is the pooled encoder on the full image.
    assert torch.allclose(model(x), model.backbone.forward_head(model.backbone.forward_features(x)), atol=1e-6)
    loss, pred = model.reconstruct(x, mask, keep)
    assert pred.shape == (2, 49, 48) and loss.ndim == 0
    model.train()
    views = model.make_views(torch.randint(0, 256, (4, 3, 28, 28), dtype=torch.uint8))
    assert views.extra["mask"].shape == (4, 49) and (views.extra["mask"].sum(1) == 37).all()
    assert not views.extra["mask"].gather(1, views.extra["keep"]).any()  # keep-indices are the visible patches


def test_inpainting_blanks_hidden_pixels_and_jigsaw_tiles_whole_view():
    torch.manual_seed(0)
    model = Inpainting(**TINY).eval()
    x = torch.randn(2, 3, 28, 28)
    mask = random_patch_mask(2, 49, 0.25)
    hidden = mask_to_pixels(mask, 4, 28, 28)
    loss, masked, recon = model.reconstruct(x, mask)
    assert recon.shape == x.shape and (masked[hidden.expand_as(x)] == 0).all()
    _, _, recon2 = model.reconstruct(torch.where(hidden, torch.randn_like(x), x), mask)
    assert torch.allclose(recon, recon2)  # the encoder never sees what it must inpaint
    with pytest.raises(ValueError):
        Inpainting(**{**TINY, "mask_patch_size": 5})

    jig = Jigsaw(**TINY, num_perms=20, tile_dim=16, hidden_dim=32)
    views = jig.make_views(torch.randint(0, 256, (4, 3, 28, 28), dtype=torch.uint8))
    whole, tiles, labels = views.images[0], views.extra["tiles"], views.extra["perm"]
    assert whole.shape == (4, 3, 28, 28) and tiles.shape == (4, 9, 3, 7, 7) and labels.max() < 20
    out = jig.ssl_step(views, torch.zeros(4, dtype=torch.long))  # step 0: probe pass due
    loss, features = out.loss, out.features
    assert features.shape == (4, jig.num_features) and not features.requires_grad  # probe: whole images
    loss.backward()
    assert jig.backbone.features[0][0].weight.grad.abs().sum() > 0  # the pretext trains the shared backbone


def test_rotation_classes_follow_configured_subset():
    rot = Rotation(**TINY, rotations=[2, 0])
    assert rot.rotations == (0, 2) and rot.head[-1].out_features == 2
    x = torch.randn(3, 3, 28, 28)
    out = rot.ssl_step(Views([x]), torch.zeros(3, dtype=torch.long))
    feats, logs = out.features, out.logs
    assert feats.shape == (3, rot.num_features)
    # pretext_top1 is the accuracy over both rotations of every image: classes 0 (k=0) then 1 (k=2)
    logits = rot.head(rot.backbone(torch.cat([x, torch.rot90(x, 2, dims=(-2, -1))])))
    torch.testing.assert_close(logs["pretext_top1"], (logits.argmax(1) == torch.tensor([0] * 3 + [1] * 3)).float().mean())
    with pytest.raises(ValueError):
        Rotation(**TINY, rotations=[1, 2])


@pytest.mark.parametrize("cls,kwargs", [(Inpainting, TINY), (MAE, VIT)], ids=["inpainting", "mae"])
def test_reconstruction_grid_in_tensorboard(cls, kwargs, tmp_path):
    from lightning.pytorch.loggers import TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from vision_ssl.data import FakeDataModule

    model = cls(**kwargs, num_classes=4)
    dm = FakeDataModule(num_samples=32, image_size=28, batch_size=16, num_workers=0)
    logger = TensorBoardLogger(str(tmp_path), name="run")
    L.Trainer(accelerator="cpu", max_epochs=1, limit_train_batches=1, limit_val_batches=0, logger=logger,
              enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False).fit(model, dm)
    logger.experiment.flush()
    events = EventAccumulator(logger.log_dir, size_guidance={"images": 0})
    events.Reload()
    assert "train/reconstruction" in events.Tags()["images"]
    image = events.Images("train/reconstruction")[0]
    assert image.height > 3 * 28  # three rows: original, masked input, reconstruction
