"""SIGReg and the LeJEPA objective (Balestriero & LeCun 2025, "LeJEPA: Provable and Scalable Self-Supervised
Learning Without the Heuristics", arXiv:2511.08544, Sec. 4-5 and the paper's code listings).

SIGReg (Sketched Isotropic Gaussian Regularisation) pushes the embeddings towards N(0, I): it projects them on
M random unit directions a (resampled every step) and applies to each 1-D projection the Epps-Pulley test of
normality, which compares the empirical characteristic function (ECF) with the standard normal one:

    EP({x_n}) = N * integral w(t) |phi_N(t) - exp(-t^2 / 2)|^2 dt,   phi_N(t) = (1/N) sum_n exp(i t x_n),
    w(t) = exp(-t^2 / 2),    SIGReg = (1/M) sum_a EP({a^T z_n}).

As in the paper, the integral is the trapezoidal rule on 17 knots over t in [-5, 5], N is the global batch (the
ECF is averaged over ranks, differentiably), and the LeJEPA loss over V views of B images is

    L = (1 - lambda) * mean_{v, n, k} (c_{n,k} - z_{v,n,k})^2 + lambda * (1/V) sum_v SIGReg({z_{v,n}}),

with c_n the mean embedding of the image's global views and lambda = 0.05 (the paper's default).
Other implementations differ: the paper's own minimal example (MINIMAL.md of rbalestr-lab/lejepa) integrates on
[0, 3] with doubled weights (the integrand is even) and uses lambda = 0.02 with c the mean over all views;
the `lejepa` library's EppsPulley defaults to [0, 3], 17 knots; FAIR's EB-JEPA (BCS loss) integrates on [-3, 3]
with 10 knots, drops the factor N, and weighs the statistic by 10 against an unweighted invariance MSE.
"""

from __future__ import annotations

import torch
import torch.distributed.nn.functional as dist_nn

from vision_ssl.losses.precision import float32_loss
from vision_ssl.utils import distributed


def _mean_over_ranks(x: torch.Tensor) -> torch.Tensor:
    """Differentiable mean over ranks (its backward sums the gradients over ranks, the 1-process gradient once DDP
    averages them); identity in one process."""
    if not distributed.is_distributed():
        return x
    return dist_nn.all_reduce(x) / distributed.world_size()


@float32_loss
def epps_pulley(x: torch.Tensor, t_max: float = 5.0, num_knots: int = 17) -> torch.Tensor:
    """Epps-Pulley statistic of each column of `x` against N(0, 1) (LeJEPA Eq. for EP, trapezoidal quadrature).

    Args:
        x: (N, M) samples, one 1-D sample of N values per column; in DDP the ECF is averaged over ranks and N is
            the global sample size.
        t_max: the integral runs over [-t_max, t_max] (paper: 5).
        num_knots: trapezoid knots (paper: 17).

    Returns:
        (M,) statistics: about 1/2 (its expectation for Gaussian samples, whatever N), growing like N for
        non-Gaussian ones.
    """
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"x must be (N, M) samples with N >= 1, got shape {tuple(x.shape)}")
    if t_max <= 0 or num_knots < 2:
        raise ValueError(f"need t_max > 0 and num_knots >= 2, got t_max={t_max}, num_knots={num_knots}")
    t = torch.linspace(-t_max, t_max, num_knots, device=x.device, dtype=x.dtype)  # (T,)
    normal_cf = torch.exp(-0.5 * t**2)  # (T,) characteristic function of N(0, 1); also the weight w(t)
    xt = x[..., None] * t  # (N, M, T)
    ecf_re = _mean_over_ranks(torch.cos(xt).mean(0))  # (M, T)
    ecf_im = _mean_over_ranks(torch.sin(xt).mean(0))
    err = normal_cf * ((ecf_re - normal_cf) ** 2 + ecf_im**2)  # (M, T) weighted |ECF - CF|^2
    n = x.shape[0] * distributed.world_size()
    return torch.trapezoid(err, t, dim=-1) * n  # (M,)


def random_directions(dim: int, num_slices: int, generator: torch.Generator | None = None,
                      device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """`num_slices` unit directions (dim, M), Gaussian then L2-normalised (uniform on the sphere)."""
    a = torch.randn(dim, num_slices, generator=generator, device=device, dtype=dtype)
    return a / a.norm(dim=0, keepdim=True)


@float32_loss
def sigreg(z: torch.Tensor, num_slices: int = 256, generator: torch.Generator | None = None,
           t_max: float = 5.0, num_knots: int = 17) -> torch.Tensor:
    """SIGReg: the Epps-Pulley statistic of `num_slices` random 1-D projections of `z`, averaged.

    Args:
        z: (N, K) embeddings of one view.
        num_slices: M random directions (paper: 256 in the listing, 1024 in the library's example).
        generator: draws the directions (seed it from the step so every rank uses the same ones, as the paper
            does); None: torch's global generator.
        t_max: integration range [-t_max, t_max].
        num_knots: trapezoid knots.

    Returns:
        The scalar statistic.
    """
    if z.ndim != 2:
        raise ValueError(f"z must be (N, K) embeddings, got shape {tuple(z.shape)}")
    if num_slices < 1:
        raise ValueError(f"num_slices must be >= 1, got {num_slices}")
    return sliced_epps_pulley(z, random_directions(z.shape[1], num_slices, generator, z.device, z.dtype), t_max,
                              num_knots)


@float32_loss
def sliced_epps_pulley(z: torch.Tensor, directions: torch.Tensor, t_max: float = 5.0,
                       num_knots: int = 17) -> torch.Tensor:
    """Mean Epps-Pulley statistic of the projections of `z` (N, K) on given unit `directions` (K, M)."""
    return epps_pulley(z @ directions, t_max, num_knots).mean()


@float32_loss
def invariance_loss(embeddings: torch.Tensor, num_global: int) -> torch.Tensor:
    """LeJEPA's prediction term: squared distance of every view's embedding to the mean of the global views'.

    Args:
        embeddings: (V, B, K), the first `num_global` views being the global ones.
        num_global: V_g >= 1.

    Returns:
        mean over views, images and coordinates of (c - z)^2 (the paper's listing; its equation writes the squared
        norm, K times this).
    """
    if embeddings.ndim != 3 or not 1 <= num_global <= embeddings.shape[0]:
        raise ValueError(f"embeddings must be (V, B, K) with 1 <= num_global <= V, got shape "
                         f"{tuple(embeddings.shape)} and num_global={num_global}")
    centers = embeddings[:num_global].mean(0)  # (B, K)
    return (centers - embeddings).square().mean()


@float32_loss
def lejepa_loss(embeddings: torch.Tensor, num_global: int, lambd: float = 0.05, num_slices: int = 256,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """LeJEPA: (1 - lambda) * invariance + lambda * mean over views of SIGReg.

    Args:
        embeddings: (V, B, K) projected embeddings of every view, global views first.
        num_global: V_g.
        lambd: lambda in [0, 1] (paper: 0.05).
        num_slices: random directions per step, shared by the views.
        generator: draws the directions (None: torch's global generator).

    Returns:
        (loss, invariance term, SIGReg term).
    """
    if not 0.0 <= lambd <= 1.0:
        raise ValueError(f"lambd must be in [0, 1], got {lambd}")
    inv = invariance_loss(embeddings, num_global)
    a = random_directions(embeddings.shape[-1], num_slices, generator, embeddings.device, embeddings.dtype)
    reg = torch.stack([sliced_epps_pulley(z, a) for z in embeddings]).mean()  # the same directions for every view
    return (1.0 - lambd) * inv + lambd * reg, inv, reg
