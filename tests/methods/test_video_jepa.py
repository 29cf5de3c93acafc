"""Video JEPA: shapes, the rollout loss against a loop, gradient paths and stop-gradient targets, the
variance-covariance regulariser against its formula, best-of-N over z, digit centres of Moving MNIST, and a short
learning run whose rollouts locate a digit better than copying the last frame and than a random twin."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vision_ssl.data.moving_mnist import StochasticMovingMNIST
from vision_ssl.losses.variance_covariance import variance_covariance
from vision_ssl.methods.video_jepa import VideoJEPA

SMALL = dict(image_size=16, in_chans=1, dim=8, width=4, hidden=16, z_dim=2, context_frames=3, num_samples=4)
pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _toy_clips(n: int, frames: int = 7, size: int = 16, seed: int = 0) -> StochasticMovingMNIST:
    digits = torch.zeros(2, 5, 5, dtype=torch.uint8)
    digits[0, 1:4, 1:4] = 255  # a square
    digits[1, :, 2] = 255  # a bar
    return StochasticMovingMNIST(digits, torch.arange(2), n, frames, size, 1, 2, 1, seed, "train")


def test_shapes_and_the_deterministic_twin_has_no_latent():
    torch.manual_seed(0)
    clips = torch.rand(3, 7, 1, 16, 16)
    for predictor in ("deterministic", "latent"):
        model = VideoJEPA(predictor=predictor, **SMALL)
        s = model.encode(clips)
        assert s.shape == (3, 7, 8)
        steps, kl = model.rollout_losses(s)
        assert steps.shape == (4,) and kl.shape == ()
        assert model.generate(s[:, :3], 4).shape == (3, 4, 8)
        assert model.best_of_n(s[:, :3], s[:, 3:], 5).shape == (3, 4, 8)
        assert hasattr(model.predictor, "prior") == (predictor == "latent")
        assert (kl > 0) == (predictor == "latent")


def test_rollout_losses_equal_a_loop_over_starts_and_steps():
    torch.manual_seed(0)
    model = VideoJEPA(predictor="deterministic", **SMALL)
    s = torch.randn(2, 7, 8)
    steps, _ = model.rollout_losses(s)
    h, t_len = 2, 7
    reference = []
    for k in range(1, 5):
        errs = []
        for end in range(h - 1, t_len - k):  # window ends at `end`, rolled k steps on its own predictions
            window = s[:, end - 1 : end + 1]
            for _ in range(k):
                pred = model.predictor(window)
                window = torch.stack([window[:, 1], pred], 1)
            errs.append(F.mse_loss(pred, s[:, end + k], reduction="none").mean(1))
        reference.append(torch.stack(errs).mean())
    torch.testing.assert_close(steps, torch.stack(reference))


@pytest.mark.parametrize("predictor", ["deterministic", "latent"])
def test_no_gradient_into_the_targets_and_every_part_learns(predictor):
    torch.manual_seed(0)
    model = VideoJEPA(predictor=predictor, **SMALL)
    s = torch.randn(4, 7, 8, requires_grad=True)
    steps, kl = model.rollout_losses(s)
    (steps.sum() + kl).backward()
    assert s.grad[:, -1].abs().max() == 0  # the last frame is only ever a target: stop-gradient
    assert (s.grad[:, :-1].abs().sum((0, 2)) > 0).all()  # every other frame is in some context window
    model.zero_grad()
    loss, logs, s = model._loss(torch.rand(4, 7, 1, 16, 16))
    loss.backward()
    parts = ["encoder", "predictor.step"] + (["predictor.prior", "predictor.posterior"] if predictor == "latent" else [])
    for name in parts:
        grads = [p.grad for p in model.get_submodule(name).parameters()]
        assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0, name
    assert model.probe.weight.grad is None  # the probe reads detached embeddings in its own loss


def test_variance_covariance_against_its_formula():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(32, 5, generator=g) * torch.tensor([0.2, 0.5, 1.0, 2.0, 3.0])
    z[:, 1] += 0.7 * z[:, 4]  # correlated coordinates
    var, cov = variance_covariance(z)
    n, d = z.shape
    std = [(((z[:, j] - z[:, j].mean()) ** 2).sum() / (n - 1) + 1e-4).sqrt() for j in range(d)]
    ref_var = sum(max(0.0, 1 - float(s)) for s in std) / d
    zc = z - z.mean(0)
    ref_cov = sum(float((zc[:, i] * zc[:, j]).sum() / (n - 1)) ** 2 for i in range(d) for j in range(d) if i != j) / d
    torch.testing.assert_close(var, torch.tensor(ref_var), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(cov, torch.tensor(ref_cov), rtol=1e-5, atol=1e-6)
    assert variance_covariance(torch.randn(4096, 3, generator=g))[0] < 0.02  # unit variance: no penalty


def test_best_of_n_is_the_lowest_energy_prior_sample():
    torch.manual_seed(0)
    model = VideoJEPA(predictor="latent", **SMALL).eval()
    context, future = torch.randn(3, 3, 8), torch.randn(3, 4, 8)
    best = model.best_of_n(context, future, 6, seed=1)
    noise = torch.randn(18, 4, 2, generator=torch.Generator().manual_seed(1))
    samples = model.generate(context.repeat(6, 1, 1), 4, noise).view(6, 3, 4, 8)
    energies = (samples - future).square().sum((2, 3))  # (N, B)
    assert not torch.equal(samples[0], samples[1])  # z matters
    torch.testing.assert_close((best - future).square().sum((1, 2)), energies.min(0).values)


def test_centres_are_the_digits_pixel_centroids():
    ds = _toy_clips(5, frames=6)
    clip, _ = ds[2]
    centres = ds.centres(2)[0]  # (T, 2), one digit
    for t in range(6):
        ys, xs = torch.nonzero(clip[t, 0] > 0, as_tuple=True)
        centroid = torch.stack([ys.float().mean(), xs.float().mean()]) + 0.5  # pixel centres
        torch.testing.assert_close(centroid, centres[t])


def _position_error(model: VideoJEPA, fit_s: torch.Tensor, fit_y: torch.Tensor, s: torch.Tensor,
                    y: torch.Tensor) -> dict[str, float]:  # fmt: skip
    """Ridge probe from true-frame embeddings to the digit centre, scored (mean pixel error) at horizon 2 on the
    true embedding, the rollout and the last context embedding copied."""
    x = torch.cat([fit_s.flatten(0, 1), torch.ones(fit_s.shape[0] * fit_s.shape[1], 1)], 1)
    w = torch.linalg.solve(x.T @ x + 1e-2 * torch.eye(x.shape[1]), x.T @ fit_y.flatten(0, 1))
    probe = lambda e: torch.cat([e, torch.ones(len(e), 1)], 1) @ w  # noqa: E731
    c = model.hparams.context_frames
    rolled = model.generate(s[:, :c], 2)[:, 1]
    err = lambda e: float((probe(e) - y[:, c + 1]).norm(dim=1).mean())  # noqa: E731
    return {"true": err(s[:, c + 1]), "rollout": err(rolled), "copy_last": err(s[:, c - 1])}


@pytest.mark.slow
def test_short_training_rollouts_locate_the_digit_better_than_copying_and_a_random_twin(seed: int = 0):
    data = _toy_clips(512, frames=7)
    clips = torch.stack([data[i][0] for i in range(512)]).float() / 255  # (512, 7, 1, 16, 16)
    centres = torch.stack([data.centres(i)[0] for i in range(512)])  # (512, 7, 2)
    torch.manual_seed(seed)
    model = VideoJEPA(predictor="deterministic", **SMALL)
    twin = VideoJEPA(predictor="deterministic", **SMALL)
    twin.load_state_dict(model.state_dict())
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(300):
        batch = clips[(step * 32) % 384 :][:32]
        loss = model._loss(batch)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
    scores = {}
    for name, m in (("trained", model), ("random", twin)):
        m.eval()
        with torch.no_grad():
            s_fit, s_test = m.encode(clips[:384]), m.encode(clips[384:])
        scores[name] = _position_error(m, s_fit, centres[:384], s_test, centres[384:])
    trained, random = scores["trained"], scores["random"]
    # measured (seed 0): trained rollout 2.47 px, copying the last context frame 3.52 px; true frames 1.52 px
    # through the trained encoder, 3.54 px through the random twin's (whose rollout is off by 61 px)
    assert trained["rollout"] < 0.8 * trained["copy_last"], scores  # the predictor moves the digit
    assert trained["true"] < 0.6 * random["true"], scores  # the encoder learned where the digit is
