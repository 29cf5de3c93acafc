"""The video JEPA's predictor in representation space: the next frame embedding from a window of past embeddings,
optionally conditioned on a latent z_t with a learned prior and posterior (SVG-LP's pair, Denton & Fergus 2018,
moved from pixels to embeddings).

    deterministic:  s_{t+1} = s_t + f([s_{t-H+1}, ..., s_t])
    latent:         s_{t+1} = s_t + f([s_{t-H+1}, ..., s_t, z_t]),
                    prior p(z_t | window) = N(mu_p, sigma_p^2),  posterior q(z_t | window, s*_{t+1}) = N(mu_q, sigma_q^2)

with s* the (stop-gradient) target embedding. A window of H = 2 embeddings holds a position and a velocity, all
a bouncing digit's next position depends on between wall hits; z carries the new velocity after a hit. The
residual form predicts the change of the embedding, which is small between frames.
"""

from __future__ import annotations

import torch
from torch import nn

from vision_ssl.heads.mlp import mlp


class WindowPredictor(nn.Module):
    """Next embedding (..., D) from a window (..., H, D) and, for a latent predictor, z (..., z_dim).

    Args:
        dim: embedding width D.
        history: window length H.
        hidden: MLP width.
        z_dim: latent width; 0 gives the deterministic predictor (no z, no prior or posterior).
        layers: hidden layers of each MLP.
    """

    def __init__(self, dim: int, history: int = 2, hidden: int = 256, z_dim: int = 0, layers: int = 2) -> None:
        super().__init__()
        if history < 1 or z_dim < 0 or layers < 1:
            raise ValueError(f"need history >= 1, z_dim >= 0 and layers >= 1, got {history}, {z_dim}, {layers}")
        self.dim, self.history, self.z_dim = dim, history, z_dim
        self.step = mlp([history * dim + z_dim, *[hidden] * layers, dim], batch_norm=False)
        if z_dim:
            self.prior = mlp([history * dim, hidden, 2 * z_dim], batch_norm=False)
            self.posterior = mlp([(history + 1) * dim, hidden, 2 * z_dim], batch_norm=False)

    def forward(self, window: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        flat = window.flatten(-2)  # (..., H D)
        if self.z_dim:
            if z is None:
                raise ValueError("a latent predictor needs z")
            flat = torch.cat([flat, z], -1)
        return window[..., -1, :] + self.step(flat)

    def prior_params(self, window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of p(z | window), each (..., z_dim)."""
        return self._gaussian(self.prior, window.flatten(-2))

    def posterior_params(self, window: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z | window, target embedding), each (..., z_dim)."""
        return self._gaussian(self.posterior, torch.cat([window.flatten(-2), target], -1))

    @staticmethod
    def _gaussian(net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = net(x).chunk(2, -1)  # linear layers act on the last axis: any leading shape
        return mu, logvar
