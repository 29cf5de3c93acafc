"""Video JEPA: predict the embeddings of future frames, not their pixels, with a deterministic predictor or one
conditioned on a latent variable z (`predictor: deterministic | latent`).

The energy-based view (LeCun 2022, "A Path Towards Autonomous Machine Intelligence", Sec. 4) scores a future by
the distance between its embedding and the predicted one; a latent z carries what the past does not determine
(the new velocity after a wall hit on Moving MNIST), and the energy of a future is the minimum over z. FAIR's
EB-JEPA (2026) trains a video JEPA on Moving MNIST with a deterministic predictor, variance-covariance
regularisation and a multi-step rollout loss; this file adds the latent variable.

- Encoder E: SVG's DCGAN-style frame encoder (`vision_ssl.heads.frame_predictor.FrameEncoder`, linear output):
  s_t = E(x_t), a (B, dim) vector per frame.
- Predictor (`vision_ssl.heads.latent_predictor.WindowPredictor`): s^_{t+1} = s_t + f(s_{t-1}, s_t[, z_t]).
- Targets: stop-gradient of the same online encoder's embeddings, s*_t = sg(E(x_t)) (no EMA target encoder:
  the variance-covariance term prevents collapse, as in VICReg and EB-JEPA, and the targets cost no extra pass).
  The encoder is trained through the context embeddings and the regulariser only.
- Multi-step rollout loss (EB-JEPA: 4 steps): from every window of true embeddings the predictor rolls out
  `rollout_steps` steps, feeding its own predictions back (gradients flow through the rollout); step k's loss is
  MSE(s^_{t+k}, s*_{t+k}), averaged over starts, and the loss averages the steps.
- Anti-collapse: VICReg's variance and covariance terms on all frame embeddings of the batch (B T, dim).
- z (latent predictor): a learned prior p(z_t | s_{t-1}, s_t) and posterior q(z_t | s_{t-1}, s_t, s*_{t+1}), as
  SVG-LP. Training draws z from q and adds beta KL(q || p); generation draws z from p, and the energy is minimised
  over z by best-of-N prior samples (`best_of_n`). Why a learned prior/posterior and not gradient descent on z:
  the posterior is an amortised minimiser of the energy over z (one pass instead of an inner optimisation loop
  per training step, which would multiply a CPU step's cost); the KL bounds the information z can carry about the
  target, where a free z minimised by gradient descent needs its own capacity limit; and the prior gives samples
  of plausible futures at inference without the target.
- An online linear probe on detached embeddings of frame 1 predicts the digits of the clip (`val/probe_top1`).

Batches are (clips uint8 (B, T, C, H, W), labels long (B, K)) as `vision_ssl.data.moving_mnist` gives them.
Logged: `train/loss`, `train/pred`, `train/var`, `train/cov`, `train/kl`; in validation the same terms and the
generated rollout's energy per horizon after `context_frames` frames, `val/energy_t{k}` (prior mean z) and, for
the latent predictor, `val/energy_best_t{k}` (best of `num_samples` z).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F

from vision_ssl.heads.frame_predictor import FrameEncoder, sample_gaussian
from vision_ssl.heads.latent_predictor import WindowPredictor
from vision_ssl.losses import gaussian_kl
from vision_ssl.losses.variance_covariance import variance_covariance
from vision_ssl.methods.step import StepOutput, Views
from vision_ssl.methods.video_base import VideoMethod, video_probe


class VideoJEPA(VideoMethod):
    """Video JEPA with a deterministic or latent-variable predictor in representation space.

    Args:
        predictor: `deterministic` or `latent` (learned prior and posterior over z).
        dim: embedding width.
        width: channels of the encoder's first level.
        history: embeddings the predictor reads (2: position and velocity).
        hidden: predictor MLP width.
        z_dim: latent width (latent predictor only).
        rollout_steps: steps of the rollout loss (EB-JEPA: 4).
        pred_weight: weight of the rollout loss (VICReg's invariance weight: 25).
        var_weight: weight of the variance term (VICReg: 25).
        cov_weight: weight of the covariance term (VICReg: 1).
        beta: KL weight.
        num_samples: z samples of the best-of-N energy in validation.
        image_size: side of the frames (linked from the data module by the CLI).
        **kwargs: `VideoMethod` arguments (num_classes, in_chans, context_frames (at least `history`), optimizer,
            scheduler, warmup_epochs, probe_lr).
    """

    def __init__(
        self,
        predictor: Literal["deterministic", "latent"] = "latent",
        dim: int = 64,
        width: int = 16,
        history: int = 2,
        hidden: int = 256,
        z_dim: int = 4,
        rollout_steps: int = 4,
        pred_weight: float = 25.0,
        var_weight: float = 25.0,
        cov_weight: float = 1.0,
        beta: float = 1.0,
        num_samples: int = 20,
        image_size: int = 32,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        if predictor not in ("deterministic", "latent"):
            raise ValueError(f"predictor must be 'deterministic' or 'latent', got '{predictor}'")
        if min(rollout_steps, num_samples, z_dim) < 1 or self.hparams.context_frames < history or beta < 0:
            raise ValueError("rollout_steps, num_samples and z_dim must be >= 1, context_frames >= history, beta >= 0")
        self.latent = predictor == "latent"
        self.encoder = FrameEncoder(self.hparams.in_chans, image_size, dim, width, squash=False)
        self.predictor = WindowPredictor(dim, history, hidden, z_dim if self.latent else 0)
        self.num_features, self.probe = dim, video_probe(dim, self.hparams.num_classes)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Embeddings (B, dim) of frames (B, C, H, W) in [0, 1]."""
        return self.encoder(frames)[0]

    def encode(self, clips: torch.Tensor) -> torch.Tensor:
        """Embeddings (B, T, dim) of clips (B, T, C, H, W) in [0, 1]."""
        return self(clips.flatten(0, 1)).view(*clips.shape[:2], -1)

    def rollout_losses(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-step rollout losses (K,) from every window of embeddings s (B, T, dim), and the mean KL (0 if none).

        Windows end at frames H-1 .. T-2; step k predicts frame (end + k) from the window of the k-1 steps
        before, so it has T-H-k+1 starts. Targets are sg(s).
        """
        h, target = self.hparams.history, s.detach()  # stop-gradient targets
        starts = s.shape[1] - h
        if starts < 1:
            raise ValueError(f"clips of {s.shape[1]} frames are too short for history {h}")
        window = s.unfold(1, h, 1).transpose(-1, -2)[:, :starts]  # (B, S, H, dim)
        losses, kl = [], s.new_zeros(())
        steps = min(self.hparams.rollout_steps, starts)
        for k in range(1, steps + 1):
            n = starts - k + 1
            window, tgt = window[:, :n], target[:, h - 1 + k : h - 1 + k + n]  # (B, n, H, dim), (B, n, dim)
            z = None
            if self.latent:
                mu_q, logvar_q = self.predictor.posterior_params(window, tgt)
                mu_p, logvar_p = self.predictor.prior_params(window)
                z = sample_gaussian(mu_q, logvar_q)
                kl = kl + gaussian_kl(mu_q, logvar_q, mu_p, logvar_p).mean() / steps
            pred = self.predictor(window, z)  # (B, n, dim)
            losses.append(F.mse_loss(pred, tgt))
            window = torch.cat([window[:, :, 1:], pred[:, :, None]], 2)  # own prediction fed back
        return torch.stack(losses), kl

    def _loss(self, clips: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        hp = self.hparams
        s = self.encode(clips)  # (B, T, dim)
        steps, kl = self.rollout_losses(s)
        var, cov = variance_covariance(s.flatten(0, 1))
        pred = steps.mean()
        loss = hp.pred_weight * pred + hp.var_weight * var + hp.cov_weight * cov + hp.beta * kl
        logs = {"pred": pred, "var": var, "cov": cov, "kl": kl, **{f"pred_step{k + 1}": v for k, v in enumerate(steps)}}
        return loss, logs, s

    @torch.no_grad()
    def generate(self, context: torch.Tensor, horizon: int, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted embeddings (B, horizon, dim) after context embeddings (B, Tc, dim), feeding predictions back.

        Args:
            context: embeddings of the observed frames (the last `history` are read).
            horizon: steps to generate.
            noise: standard-normal noise (B, horizon, z_dim) for prior samples of z; None: z at the prior's mean.
        """
        window, out = context[:, -self.hparams.history :], []
        for k in range(horizon):
            z = None
            if self.latent:
                mu, logvar = self.predictor.prior_params(window)
                z = mu if noise is None else sample_gaussian(mu, logvar, noise[:, k])
            pred = self.predictor(window, z)
            out.append(pred)
            window = torch.cat([window[:, 1:], pred[:, None]], 1)
        return torch.stack(out, 1)

    @torch.no_grad()
    def best_of_n(self, context: torch.Tensor, future: torch.Tensor, num_samples: int, seed: int = 0) -> torch.Tensor:
        """The rollout (B, F, dim) of lowest energy sum_k ||s^_k - s_k||^2 against the true future embeddings
        (B, F, dim) among `num_samples` prior samples of z per clip (one z sequence per clip, as best-of-N in
        SVG-LP): the energy minimised over z by sampling. The deterministic predictor has one rollout."""
        b, horizon = future.shape[:2]
        if not self.latent:
            return self.generate(context, horizon)
        gen = torch.Generator(context.device).manual_seed(seed)
        noise = torch.randn(num_samples * b, horizon, self.hparams.z_dim, generator=gen, device=context.device)
        preds = self.generate(context.repeat(num_samples, 1, 1), horizon, noise).view(num_samples, b, horizon, -1)
        energy = (preds - future).square().sum((2, 3))  # (N, B)
        return preds.gather(0, energy.argmin(0)[None, :, None, None].expand(1, *preds.shape[1:]))[0]

    # ----------------------------------------------------------------- steps
    def ssl_step(self, views: Views, labels: torch.Tensor) -> StepOutput:
        """Rollout + variance-covariance loss of clips (B, T, C, H, W) in [0, 1]; features: the first frame's
        embeddings; `extra["embeddings"]`: every frame's (B, T, dim)."""
        loss, logs, s = self._loss(views.images[0])
        return StepOutput(loss, s[:, 0], logs, extra={"embeddings": s})

    def evaluate_rollouts(self, frames: torch.Tensor, out: StepOutput, batch_idx: int, stage: str) -> None:
        """Energy (squared distance to the true embeddings) per predicted step of the generated rollout, and of the
        best of `num_samples` z for the latent predictor."""
        c, s = self.hparams.context_frames, out.extra["embeddings"]
        future = s[:, c:]
        energies = {"energy": self.generate(s[:, :c], future.shape[1])}
        if self.latent:
            energies["energy_best"] = self.best_of_n(s[:, :c], future, self.hparams.num_samples)
        for key, pred in energies.items():
            per_step = (pred - future).square().mean((0, 2))  # (F,)
            self.log_per_frame(stage, key, per_step, frames.shape[0], prog_bar=key == "energy")
