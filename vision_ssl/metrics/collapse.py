"""Collapse monitors: label-free statistics of a batch of embeddings that fall when a method collapses.

- RankMe (Garrido, Balestriero, Najman & LeCun 2023, "RankMe: Assessing the downstream performance of
  pretrained self-supervised representations by their rank", arXiv:2210.02885, Eq. 1): the effective rank
  exp(entropy of the normalised singular values). D for isotropic embeddings, 1 for rank-1 ones.
- Per-dimension standard deviation of L2-normalised embeddings (Chen & He 2021, SimSiam, Sec. 4.1): about
  1/sqrt(D) for well-spread embeddings, 0 when every image maps to the same point.
- Alignment and uniformity (Wang & Isola 2020, "Understanding Contrastive Representation Learning through
  Alignment and Uniformity on the Hypersphere", arXiv:2005.10242, Eqs. 4-5): lower is better for both;
  uniformity tends to 0 (its maximum) under complete collapse.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F


def rankme(embeddings: torch.Tensor, eps: float = 1e-7) -> float:
    """Effective rank of embeddings (N, D): exp(-sum_k p_k log p_k), p_k = s_k / ||s||_1 + eps (Eq. 1)."""
    if embeddings.ndim != 2 or min(embeddings.shape) < 1:
        raise ValueError(f"embeddings must be a non-empty (N, D) matrix, got {tuple(embeddings.shape)}")
    s = torch.linalg.svdvals(embeddings.double())  # (min(N, D),)
    p = s / s.sum().clamp_min(torch.finfo(torch.float64).tiny) + eps
    return float(torch.exp(-(p * p.log()).sum()))


def embedding_std(embeddings: torch.Tensor) -> float:
    """Mean over dimensions of the std of L2-normalised embeddings (N, D); ~1/sqrt(D) healthy, 0 collapsed."""
    return float(F.normalize(embeddings.float(), dim=1).std(0).mean())


def alignment(z1: torch.Tensor, z2: torch.Tensor, alpha: float = 2.0) -> float:
    """E ||f(x) - f(y)||^alpha over positive pairs (rows of z1, z2 (N, D)), on normalised embeddings (Eq. 4)."""
    z1, z2 = F.normalize(z1.float(), dim=1), F.normalize(z2.float(), dim=1)
    return float((z1 - z2).norm(dim=1).pow(alpha).mean())


def uniformity(z: torch.Tensor, t: float = 2.0) -> float:
    """log E exp(-t ||f(x) - f(y)||^2) over distinct pairs of normalised embeddings (N, D) (Eq. 5)."""
    if len(z) < 2:
        raise ValueError("uniformity needs at least 2 embeddings")
    sq = torch.pdist(F.normalize(z.float(), dim=1), p=2).pow(2)  # (N (N - 1) / 2,)
    return float(torch.logsumexp(-t * sq, dim=0) - math.log(len(sq)))


def collapse_stats(z: torch.Tensor, z_pair: torch.Tensor | None = None, max_samples: int = 2048) -> dict[str, float]:
    """RankMe, per-dim std and uniformity of z (N, D), and alignment with `z_pair` (positives, same rows)."""
    z = z[:max_samples]
    stats = {"rankme": rankme(z), "embedding_std": embedding_std(z), "uniformity": uniformity(z)}
    if z_pair is not None:
        stats["alignment"] = alignment(z, z_pair[:max_samples])
    return stats


def is_collapsed(stats: dict[str, float], dim: int, min_rank: float = 1.5, min_std_ratio: float = 0.05) -> bool:
    """Collapse when the effective rank is about 1 or the normalised per-dim std is < 5 % of 1/sqrt(D)."""
    return stats["rankme"] < min_rank or stats["embedding_std"] < min_std_ratio / math.sqrt(dim)


def warn_if_collapsed(stats: dict[str, float], dim: int, where: str = "") -> bool:
    """Emit a clear warning (rank zero) when `is_collapsed`; returns whether it did."""
    if not is_collapsed(stats, dim):
        return False
    warnings.warn(
        f"Embeddings collapsed{' ' + where if where else ''}: RankMe {stats['rankme']:.2f} of {dim} dimensions, "
        f"per-dim std of normalised embeddings {stats['embedding_std']:.2e} (healthy ~{1 / math.sqrt(dim):.2e}). "
        "Every image maps to (nearly) the same point; check the learning rate, the loss temperature, the "
        "predictor/stop-gradient, or the EMA teacher.",
        stacklevel=2,
    )
    return True
