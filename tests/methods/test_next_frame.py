"""Next-frame predictors: Gaussian KL, deterministic rollouts with fixed z, feeding predictions back, gradients,
and a short training run that lowers the loss."""

from __future__ import annotations

import pytest
import torch

from vision_ssl.losses import gaussian_kl
from vision_ssl.methods.next_frame import NextFramePredictor
from vision_ssl.methods.video_base import multi_label_probe

SMALL = dict(image_size=16, in_chans=1, g_dim=16, z_dim=4, rnn_size=32, width=8, context_frames=3, num_samples=3)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _clips(b: int = 4, t: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, t, 1, 16, 16, generator=torch.Generator().manual_seed(seed))


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu_q, lv_q, mu_p, lv_p = (torch.randn(5, 3, generator=g) for _ in range(4))
    q = torch.distributions.Normal(mu_q, (0.5 * lv_q).exp())
    p = torch.distributions.Normal(mu_p, (0.5 * lv_p).exp())
    reference = torch.distributions.kl_divergence(q, p).sum(-1)
    torch.testing.assert_close(gaussian_kl(mu_q, lv_q, mu_p, lv_p), reference)
    assert (gaussian_kl(mu_q, lv_q, mu_p, lv_p) > 0).all()
    torch.testing.assert_close(gaussian_kl(mu_q, lv_q, mu_q, lv_q), torch.zeros(5))
    # one differing coordinate is enough: N(1, 1) vs N(0, 1) gives 1/2
    torch.testing.assert_close(gaussian_kl(torch.tensor([1.0, 0.0]), torch.zeros(2), torch.zeros(2), torch.zeros(2)),
                               torch.tensor(0.5))  # fmt: skip


def test_latent_model_is_deterministic_given_z_and_samples_differ():
    torch.manual_seed(0)
    model = NextFramePredictor(predictor="latent", **SMALL).eval()
    frames = _clips()
    noise = torch.randn(4, 5, 4)
    with torch.no_grad():
        a, _, _ = model.rollout(frames, 3, noise=noise)
        b, _, _ = model.rollout(frames, 3, noise=noise)
        c, _, _ = model.rollout(frames, 3, noise=torch.randn(4, 5, 4))
        s1, s2 = model.sample_futures(frames, 3, seed=1), model.sample_futures(frames, 3, seed=1)
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-4  # another z, another future
    assert s1.shape == (3, 4, 3, 1, 16, 16) and torch.equal(s1, s2)
    assert (s1[0] - s1[1]).abs().max() > 1e-4


@pytest.mark.parametrize("predictor", ["deterministic", "latent"])
def test_predictions_are_fed_back_after_the_context(predictor):
    torch.manual_seed(0)
    model = NextFramePredictor(predictor=predictor, **SMALL).eval()
    frames, noise = _clips(), torch.randn(4, 5, 4)
    changed = frames.clone()
    changed[:, 3:] = torch.rand_like(changed[:, 3:])  # new frames after the 3 observed ones
    with torch.no_grad():
        free = model.rollout(frames, 3, noise=noise)[0]
        assert torch.equal(free, model.rollout(changed, 3, noise=noise)[0])  # generation never reads them
        forced = model.rollout(frames, 6, noise=noise)[0]
        forced_changed = model.rollout(changed, 6, noise=noise)[0]
    assert torch.equal(free[:, :3], forced[:, :3])  # same inputs up to the last observed frame
    assert not torch.equal(forced[:, 3:], forced_changed[:, 3:])  # teacher forcing reads the true frames


def test_gradients_reach_every_part_and_the_probe_stays_detached():
    torch.manual_seed(0)
    model = NextFramePredictor(predictor="latent", **SMALL)
    loss, logs, h0 = model._loss(_clips())
    assert logs["kl"] > 0 and logs["mse"] > 0
    loss.backward()
    for name in ("encoder", "decoder", "frame_lstm", "posterior", "prior"):
        grads = [p.grad for p in getattr(model, name).parameters()]
        assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0, name
    model.zero_grad()
    probe_loss = multi_label_probe(model, model.probe, h0, torch.tensor([[1, 2], [3, -1], [-1, -1], [0, 0]]), "train")
    probe_loss.backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.encoder.parameters())
    assert model.probe.weight.grad.abs().sum() > 0


def _fit_moving_shapes(steps: int = 30, **kwargs) -> tuple[float, float]:  # noqa: ANN003
    """MSE before and after `steps` Adam steps on 16 clips of moving bars (16 px, 6 frames)."""
    from vision_ssl.data.moving_mnist import StochasticMovingMNIST

    digits = torch.zeros(4, 6, 6, dtype=torch.uint8)
    for k in range(4):
        digits[k, 1 + k // 2 : 5, k % 3 : k % 3 + 3] = 255
    data = StochasticMovingMNIST(digits, torch.arange(4), 16, 6, 16, 1, 2, 1, 0, "train")
    frames = torch.stack([data[i][0] for i in range(16)]).float() / 255  # (16, 6, 1, 16, 16)
    torch.manual_seed(0)
    model = NextFramePredictor(**SMALL, **kwargs)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    with torch.no_grad():
        before = model._loss(frames)[1]["mse"].item()
    for _ in range(steps):
        loss = model._loss(frames)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return before, model._loss(frames)[1]["mse"].item()


@pytest.mark.parametrize("predictor", ["deterministic", "latent"])
def test_training_lowers_the_loss_on_moving_digits(predictor):
    before, after = _fit_moving_shapes(predictor=predictor)
    assert after < 0.3 * before, (before, after)


def test_warping_decoder_fits_moving_shapes_better_than_drawing():
    # measured after 30 steps: drawing 0.280 -> 0.057, warping 0.088 -> 0.026 (it starts by half-copying the frame)
    draw_before, draw_after = _fit_moving_shapes(predictor="latent")
    warp_before, warp_after = _fit_moving_shapes(predictor="latent", warp_shift=2.0)
    assert warp_after < 0.5 * warp_before and warp_after < 0.7 * draw_after, (draw_after, warp_before, warp_after)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="predictor"):
        NextFramePredictor(predictor="gan", **SMALL)
    with pytest.raises(ValueError, match="power of two"):
        NextFramePredictor(**{**SMALL, "image_size": 24})


def test_validation_samples_a_fixed_bounded_subset_and_test_samples_every_clip():
    from helpers import quiet_trainer
    from torch.utils.data import DataLoader, TensorDataset

    clips = (_clips(b=10) * 255).to(torch.uint8)
    loader = DataLoader(TensorDataset(clips, torch.zeros(10, 1, dtype=torch.long)), batch_size=4)
    torch.manual_seed(0)
    model = NextFramePredictor(predictor="latent", **{**SMALL, "num_samples": 5}, val_samples=2, eval_clips=6)
    calls: list[tuple[torch.Tensor, int]] = []
    sample = model.sample_futures

    def counting(frames: torch.Tensor, num_samples: int, seed: int = 0) -> torch.Tensor:
        calls.append((frames.clone(), num_samples))
        return sample(frames, num_samples, seed)

    model.sample_futures = counting
    trainer = quiet_trainer()
    for _ in range(2):  # two validation epochs: the same 6 clips (4 + 2 of 10), 2 samples each
        trainer.validate(model, loader, verbose=False)
    first, second = calls[: len(calls) // 2], calls[len(calls) // 2 :]
    assert [(f.shape[0], n) for f, n in first] == [(4, 2), (2, 2)]
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, second, strict=True))
    assert torch.equal(torch.cat([f for f, _ in first]), clips[:6].float() / 255)
    assert "val/ssim" in trainer.callback_metrics and "val/mse" in trainer.callback_metrics
    calls.clear()
    trainer.test(model, loader, verbose=False)
    assert [(f.shape[0], n) for f, n in calls] == [(4, 5), (4, 5), (2, 5)]


def test_warp_moves_pixels_by_the_flow():
    from vision_ssl.heads.frame_predictor import warp

    frames = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    flow = torch.zeros(2, 2, 8, 8)
    torch.testing.assert_close(warp(frames, flow), frames)  # no flow: the frame itself
    flow[:, 0], flow[:, 1] = -2, 1  # output (y, x) reads (y + 1, x - 2): content moves 2 right and 1 up
    moved = warp(frames, flow)
    torch.testing.assert_close(moved[:, :, :7, 2:], frames[:, :, 1:, :6])
    assert moved[:, :, :, :2].abs().max() < 1e-6 and moved[:, :, 7].abs().max() < 1e-6  # from outside: zeros
    flow[:, 0], flow[:, 1] = 0.5, 0  # half a pixel: the mean of two neighbours
    torch.testing.assert_close(warp(frames, flow)[..., :7], (frames[..., :7] + frames[..., 1:]) / 2)


def test_warping_decoder_composes_the_moved_source_and_the_drawn_frame():
    from vision_ssl.heads.frame_predictor import FrameDecoder, FrameEncoder

    torch.manual_seed(0)
    enc, dec = FrameEncoder(1, 16, 8, 4), FrameDecoder(1, 16, 8, 4, warp_shift=2.0)
    source = torch.rand(3, 1, 16, 16)
    g, skips = enc(source)
    last = dec.levels[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 30.0]))  # drawn 0.5, no flow, mask sigmoid(30) = 1
    torch.testing.assert_close(dec(g, skips, source), source, atol=1e-5, rtol=0)
    with torch.no_grad():
        last.bias.copy_(torch.tensor([0.0, 0.0, 0.0, -30.0]))  # mask 0: only the drawn frame
    torch.testing.assert_close(dec(g, skips, source), torch.full_like(source, 0.5), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="source"):
        dec(g, skips)
    with pytest.raises(ValueError, match="warp_shift"):
        FrameDecoder(1, 16, 8, 4, warp_shift=-1.0)


@pytest.mark.parametrize("predictor", ["deterministic", "latent"])
def test_warping_model_moves_the_last_observed_frame(predictor):
    torch.manual_seed(0)
    model = NextFramePredictor(predictor=predictor, warp_shift=2.0, **SMALL).eval()
    last = model.decoder.levels[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 30.0]))  # no flow, mask 1: every prediction is the source
        frames = _clips()
        generated = model.rollout(frames, 3)[0]  # (B, 5, C, H, W): frames 1..5 from the 3 observed
        forced = model.rollout(frames, 6, use_posterior=model.latent)[0]
    torch.testing.assert_close(generated[:, :2], frames[:, :2], atol=1e-5, rtol=0)  # while observed: the input frame
    torch.testing.assert_close(generated[:, 2:], frames[:, 2:3].expand(-1, 3, -1, -1, -1), atol=1e-5, rtol=0)
    torch.testing.assert_close(forced, generated, atol=1e-5, rtol=0)  # the skips' frame: at most the last context one
    model.train()
    loss = model._loss(frames)[0]
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in last.parameters())
