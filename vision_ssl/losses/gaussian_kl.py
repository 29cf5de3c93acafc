"""KL divergence between diagonal Gaussians, the regulariser of the latent-variable frame predictor of SVG-LP
(Denton & Fergus 2018, "Stochastic Video Generation with a Learned Prior", Eq. 3) and of VAEs (Kingma &
Welling 2014, Appendix B)."""

from __future__ import annotations

import torch

from vision_ssl.losses.precision import float32_loss


@float32_loss
def gaussian_kl(
    mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor
) -> torch.Tensor:
    """KL(q || p) of diagonal Gaussians q = N(mu_q, exp(logvar_q)), p = N(mu_p, exp(logvar_p)), summed over
    the last dimension.

    Per dimension (Denton & Fergus 2018, Eq. 3 uses it between the posterior q(z_t | x_<=t) and the learned
    prior p(z_t | x_<t)):

        KL = log(s_p / s_q) + (s_q^2 + (mu_q - mu_p)^2) / (2 s_p^2) - 1/2

    with s = exp(logvar / 2). It is zero exactly when q = p and positive otherwise. Computed in float32.

    Args:
        mu_q: posterior means, (..., D).
        logvar_q: posterior log-variances, (..., D).
        mu_p: prior means, (..., D) (broadcastable: zeros give the standard-normal prior of a VAE).
        logvar_p: prior log-variances, (..., D).

    Returns:
        KL per leading index, (...,).
    """
    kl = 0.5 * (logvar_p - logvar_q) + (logvar_q.exp() + (mu_q - mu_p) ** 2) / (2 * logvar_p.exp()) - 0.5
    return kl.sum(-1)
