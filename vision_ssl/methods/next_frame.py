"""Next-frame prediction as a temporal pretext task, with a deterministic predictor and the latent-variable
predictor of SVG-LP (Denton & Fergus 2018, "Stochastic Video Generation with a Learned Prior", arXiv:1802.07687).

A squared-error predictor of an uncertain future learns the mean of the possible futures: a blurry frame. SVG-LP
adds a latent z_t that carries what the past cannot tell; each z gives one sharp future.

- Encoder E: frame -> embedding h_t (and skips); decoder D: embedding + skips of the last observed context frame
  -> frame (optionally by moving that frame's pixels along a predicted flow, `warp_shift`); an LSTM predictor f
  over embeddings. Deterministic: x^_t = D(f(h_{t-1})).
- Latent: posterior q(z_t | x_<=t) = LSTM_q(E(x_t)) at training time, learned prior p(z_t | x_<t) = LSTM_p(h_{t-1})
  at generation time; x^_t = D(f(h_{t-1}, z_t)). Loss (Eq. 3): mean over t of MSE(x^_t, x_t) + beta KL(q || p).
- Inputs: the true frame for observed frames (teacher forcing), the model's own prediction after them. Training
  observes the whole clip, as in SVG-LP; generation observes the `context_frames` and predicts the rest.
- The encoder is also a representation: an online linear probe on detached h_1 predicts the digits in frame 1.

Batches and the training step, probe and optimizer are `VideoMethod`'s (`vision_ssl.methods.video_base`). Metrics (`vision_ssl.metrics.video`) are logged under `val/` and per frame
index under `val_frames/`; a TensorBoard grid shows truth, the prediction at the prior's mean and samples.
Sampling is the costly part of evaluation, so validation samples `val_samples` futures of only the first
`eval_clips` clips (a fixed subset); `test` samples `num_samples` futures of every clip.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torchvision.utils import make_grid

from vision_ssl.heads.frame_predictor import (
    FrameDecoder,
    FrameEncoder,
    GaussianLSTM,
    LSTMStack,
    sample_gaussian,
)
from vision_ssl.losses import gaussian_kl
from vision_ssl.methods.step import StepOutput, Views, tensorboard
from vision_ssl.methods.video_base import VideoMethod, video_probe
from vision_ssl.metrics.video import summarize_samples


class NextFramePredictor(VideoMethod):
    """Next-frame predictor, `predictor: deterministic | latent` (SVG-LP).

    Args:
        predictor: `deterministic` (MSE) or `latent` (MSE + beta KL, learned prior).
        g_dim: frame embedding width (paper: 128).
        z_dim: latent width (paper: 10 on SM-MNIST).
        rnn_size: LSTM width (paper: 256).
        predictor_layers: LSTM layers of the frame predictor (paper: 2).
        latent_layers: LSTM layers of posterior and prior (paper: 1).
        width: channels of the encoder's first level (paper: 64, DCGAN).
        beta: KL weight (paper: 1e-4).
        warp_shift: 0: the decoder draws every pixel (SVG). > 0: it also moves the pixels of the frame its skips
            come from (the last observed frame, at most the last context frame) by a predicted flow of at most this
            many pixels per axis, and blends them with a drawn frame by a predicted mask (`FrameDecoder`), so
            digits keep their shape instead of being redrawn from a 4x4 map. Warping that true frame rather than
            the model's own last prediction keeps resampling blur from compounding over the rollout and needs no
            training on its own outputs (measured: benchmarks/results/next_frame_findings.md).
        num_samples: samples N per clip for the best-of-N / mean / diversity metrics in `test` (paper: 100).
        val_samples: samples per clip in validation, a cheaper monitor of the same metrics.
        eval_clips: clips sampled per validation epoch: the first `eval_clips` of the validation set, the same
            every epoch (the prediction loss and probe still see every clip); `test` samples every clip.
        log_samples: latent samples shown in the TensorBoard grid.
        image_size: side of the frames (linked from the data module by the CLI; SVG: 64).
        **kwargs: `VideoMethod` arguments (num_classes, in_chans, context_frames, optimizer, scheduler,
            warmup_epochs, probe_lr); the default optimizer is SVG's Adam(lr=2e-3).
    """

    def __init__(
        self,
        predictor: Literal["deterministic", "latent"] = "latent",
        g_dim: int = 128,
        z_dim: int = 10,
        rnn_size: int = 256,
        predictor_layers: int = 2,
        latent_layers: int = 1,
        width: int = 64,
        beta: float = 1e-4,
        warp_shift: float = 0.0,
        num_samples: int = 100,
        val_samples: int = 20,
        eval_clips: int = 16,
        log_samples: int = 4,
        image_size: int = 64,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        if predictor not in ("deterministic", "latent"):
            raise ValueError(f"predictor must be 'deterministic' or 'latent', got '{predictor}'")
        if min(num_samples, val_samples) < 1 or eval_clips < 0 or beta < 0:
            raise ValueError("num_samples and val_samples must be >= 1, eval_clips >= 0, beta >= 0")
        self.latent, in_chans = predictor == "latent", self.hparams.in_chans
        self.encoder = FrameEncoder(in_chans, image_size, g_dim, width)
        self.decoder = FrameDecoder(in_chans, image_size, g_dim, width, warp_shift)
        self.frame_lstm = LSTMStack(g_dim + (z_dim if self.latent else 0), g_dim, rnn_size, predictor_layers)
        if self.latent:
            self.posterior = GaussianLSTM(g_dim, z_dim, rnn_size, latent_layers)
            self.prior = GaussianLSTM(g_dim, z_dim, rnn_size, latent_layers)
        self.num_features, self.probe = g_dim, video_probe(g_dim, self.hparams.num_classes)
        self.val_clips_seen = 0  # clips of this validation epoch so far: the first `eval_clips` are sampled

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Encoder embeddings (B, g_dim) of frames (B, C, H, W) in [0, 1]."""
        return self.encoder(frames)[0]

    def rollout(
        self, frames: torch.Tensor, observed: int, use_posterior: bool = False, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Predict frames 1..T-1 of `frames` (B, T, C, H, W), seeing the true frame for inputs < `observed`.

        Args:
            frames: clips in [0, 1]; only the first `observed` frames are read (all of them with a posterior).
            observed: number of leading true frames fed as inputs; later inputs are the model's predictions.
            use_posterior: draw z_t from q(z_t | x_<=t) (training) instead of the prior p(z_t | x_<t).
            noise: standard-normal noise (B, T-1, z_dim) for z_t; fixed noise makes the rollout deterministic.

        Returns:
            predictions (B, T-1, C, H, W), KL(q || p) per clip summed over steps (B,) (zeros without posterior),
            and the embedding of the first frame (B, g_dim).
        """
        b, t_len = frames.shape[:2]
        if use_posterior and observed < t_len:
            raise ValueError("the posterior reads every target frame: use observed = T")
        h_true, skips_true = self.encoder(frames[:, :observed].flatten(0, 1))  # (B To, g), per level (B To, c, s, s)
        h_true = h_true.view(b, observed, -1)
        skips_true = [s.view(b, observed, *s.shape[1:]) for s in skips_true]
        last_skip = min(self.hparams.context_frames, observed) - 1  # skips come from the last observed context frame
        state, q_state, p_state = None, None, None
        kl = frames.new_zeros(b)
        gs: list[torch.Tensor] = []  # embeddings of the predicted frames
        preds: list[torch.Tensor] = []  # their decoded frames

        def decode_pending() -> None:  # decode the embeddings not decoded yet in one batch: (B n, g) -> (B, n, C, H, W)
            n = len(gs) - len(preds)
            if n:
                idx = [min(i, last_skip) for i in range(len(preds), len(gs))]  # prediction i is frame i + 1
                source = frames[:, idx].flatten(0, 1) if self.hparams.warp_shift else None  # the skips' frame
                out = self.decoder(torch.stack(gs[-n:], 1).flatten(0, 1), [s[:, idx].flatten(0, 1) for s in skips_true],
                                   source)
                preds.extend(out.view(b, n, *out.shape[1:]).unbind(1))

        for t in range(1, t_len):
            if t - 1 < observed:
                h = h_true[:, t - 1]
            else:
                decode_pending()
                h = self.encoder(preds[-1])[0]  # own prediction fed back
            inp = h
            if self.latent:
                mu_p, logvar_p, p_state = self.prior.step(h, p_state)
                if use_posterior:
                    mu_q, logvar_q, q_state = self.posterior.step(h_true[:, t], q_state)
                    z = sample_gaussian(mu_q, logvar_q)
                    kl = kl + gaussian_kl(mu_q, logvar_q, mu_p, logvar_p)
                else:
                    z = sample_gaussian(mu_p, logvar_p, None if noise is None else noise[:, t - 1])
                inp = torch.cat([h, z], 1)
            g, state = self.frame_lstm.step(inp, state)
            gs.append(g)
        decode_pending()
        return torch.stack(preds, 1), kl, h_true[:, 0]

    # ----------------------------------------------------------------- steps
    @staticmethod
    def default_optimizer(groups: Any) -> torch.optim.Optimizer:
        return torch.optim.Adam(groups, lr=2e-3)  # SVG's Adam

    def _loss(self, frames: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        preds, kl, h0 = self.rollout(frames, frames.shape[1], use_posterior=self.latent)
        mse = F.mse_loss(preds, frames[:, 1:])
        kl = kl.mean() / preds.shape[1]  # summed over z dims, mean over clips and steps (SVG-LP)
        return mse + self.hparams.beta * kl, {"mse": mse, "kl": kl}, h0

    def ssl_step(self, views: Views, labels: torch.Tensor) -> StepOutput:
        """Prediction loss of clips (B, T, C, H, W) in [0, 1]; features: the first frame's embeddings (B, g_dim)."""
        loss, logs, h0 = self._loss(views.images[0])
        return StepOutput(loss, h0, logs)

    @torch.no_grad()
    def sample_futures(self, frames: torch.Tensor, num_samples: int, seed: int = 0) -> torch.Tensor:
        """`num_samples` futures (N, B, F, C, H, W) after the context frames, seeded noise (prior samples)."""
        c = self.hparams.context_frames
        if not self.latent:
            return self.rollout(frames, c)[0][None, :, c - 1 :]
        b, t_len = frames.shape[:2]
        gen = torch.Generator(frames.device).manual_seed(seed)
        noise = torch.randn(num_samples, b, t_len - 1, self.hparams.z_dim, generator=gen, device=frames.device)
        reps = frames.expand(num_samples, *frames.shape).flatten(0, 1)  # (N B, T, C, H, W)
        preds = self.rollout(reps, c, noise=noise.flatten(0, 1))[0]
        return preds.view(num_samples, b, *preds.shape[1:])[:, :, c - 1 :]

    def evaluate_rollouts(self, frames: torch.Tensor, out: StepOutput, batch_idx: int, stage: str) -> None:
        """Sampled metrics on every test clip but only the first `eval_clips` validation clips (validation loaders
        are not shuffled and the noise is seeded by batch: same clips, same samples every epoch)."""
        c, b = self.hparams.context_frames, frames.shape[0]
        if stage == "test":
            take, num_samples = b, self.hparams.num_samples
        else:
            take, num_samples = max(0, min(b, self.hparams.eval_clips - self.val_clips_seen)), self.hparams.val_samples
            self.val_clips_seen += b
        if take == 0:
            return
        samples = self.sample_futures(frames[:take], num_samples, seed=batch_idx)  # (N, take, F, C, H, W)
        for key, value in summarize_samples(samples, frames[:take, c:]).items():
            if value.ndim == 1:
                self.log_per_frame(stage, key, value, take, first=c + 1, prog_bar=key == "ssim")
            else:
                self.log(f"{stage}/{key}", value.mean(), batch_size=take, sync_dist=True, prog_bar=key == "ssim")
        if batch_idx == 0 and stage == "val":
            self.log_grid(frames, samples)

    def on_validation_epoch_start(self) -> None:
        self.val_clips_seen = 0

    @torch.no_grad()
    def log_grid(self, frames: torch.Tensor, samples: torch.Tensor, clips: int = 2) -> None:
        """Per clip: true future, prediction at z = prior mean (the deterministic prediction), latent samples."""
        if (writer := tensorboard(self)) is None:
            return
        c, frames = self.hparams.context_frames, frames[:clips]
        zero = torch.zeros(frames.shape[0], frames.shape[1] - 1, self.hparams.z_dim, device=frames.device)
        mean_pred = self.rollout(frames, c, noise=zero)[0][:, c - 1 :]
        rows = []
        for i in range(frames.shape[0]):
            rows += [frames[i, c:], mean_pred[i]] + [s[i] for s in samples[: self.hparams.log_samples if self.latent else 0]]
        grid = make_grid(torch.cat(rows).float().clamp(0, 1), nrow=frames.shape[1] - c, pad_value=0.5)
        writer.add_image("val/future_truth_mean_samples", grid, self.current_epoch)
