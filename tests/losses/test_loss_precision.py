"""Every loss exported by `vision_ssl.losses` computes in float32 under bf16 and fp16 autocast (CPU).

The table below gives each exported name example inputs; a name added to `vision_ssl.losses.__all__` without an
entry here (or in NOT_LOSSES) fails `test_every_export_is_covered`, so new losses are covered automatically.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import vision_ssl.losses as losses
from vision_ssl.losses.precision import float32_loss, upcast

NOT_LOSSES = {"teacher_temperature"}  # a schedule, not a loss
MASK = torch.tensor([[1, 0, 1, 1, 0, 0], [0, 1, 1, 0, 1, 0]], dtype=torch.bool)


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)  # SIGReg's random directions: the same in every call


def _dino(t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    loss = losses.DINOLoss(32, teacher_temp=0.04, warmup_teacher_temp=0.04)  # fresh centre every call
    return loss(t, s)


# name -> (input shapes, call on those inputs)
CASES: dict[str, tuple[list[tuple[int, ...]], Callable[..., Any]]] = {
    "info_nce": ([(8, 16)] * 2, lambda a, b: losses.info_nce(a, b, 0.1)),
    "InfoNCELoss": ([(8, 16)] * 2, lambda a, b: losses.InfoNCELoss(0.1)(a, b)),
    "gaussian_kl": ([(4, 8)] * 4, losses.gaussian_kl),
    "masked_mse": ([(2, 6, 12)] * 2, lambda p, t: losses.masked_mse(p, t, MASK, norm_pix=True)),
    "barlow_twins_loss": ([(16, 32)] * 2, losses.barlow_twins_loss),
    "BarlowTwinsLoss": ([(16, 32)] * 2, lambda a, b: losses.BarlowTwinsLoss()(a, b)),
    "moco_v3_loss": ([(8, 16)] * 2, lambda q, k: losses.moco_v3_loss(q, k, 0.2)),
    "MoCoV3Loss": ([(8, 16)] * 2, lambda q, k: losses.MoCoV3Loss(0.2)(q, k)),
    "negative_cosine_similarity": ([(8, 16)] * 2, losses.negative_cosine_similarity),
    "NegativeCosineSimilarity": ([(8, 16)] * 2, lambda p, z: losses.NegativeCosineSimilarity()(p, z)),
    "info_nce_with_queue": ([(8, 16), (8, 16), (32, 16)], lambda q, k, m: losses.info_nce_with_queue(q, k, m, 0.2)),
    "QueueInfoNCELoss": ([(8, 16), (8, 16), (32, 16)], lambda q, k, m: losses.QueueInfoNCELoss(0.2)(q, k, m)),
    "vicreg_loss": ([(16, 32)] * 2, losses.vicreg_loss),
    "VICRegLoss": ([(16, 32)] * 2, lambda a, b: losses.VICRegLoss()(a, b)),
    "vicreg_terms": ([(16, 32)] * 2, losses.vicreg_terms),
    "dino_loss": ([(2, 4, 32), (4, 4, 32)], lambda t, s: losses.dino_loss(t, s, 0.04, 0.1)),
    "DINOLoss": ([(2, 4, 32), (4, 4, 32)], _dino),
    "epps_pulley": ([(64, 8)], losses.epps_pulley),
    "sigreg": ([(64, 16)], lambda z: losses.sigreg(z, 32, _gen())),
    "invariance_loss": ([(4, 8, 16)], lambda e: losses.invariance_loss(e, 2)),
    "lejepa_loss": ([(4, 32, 16)], lambda e: losses.lejepa_loss(e, 2, 0.05, 32, _gen())),
}
# Tolerance of the loss on half-rounded inputs against the loss on the float32 inputs: the inputs' rounding
# (bf16: 8-bit mantissa, relative 2^-9; fp16: 11-bit, 2^-12), amplified by temperatures down to 0.04 (DINO).
ROUNDING_RTOL = {torch.bfloat16: 5e-2, torch.float16: 1e-2}


def test_every_export_is_covered() -> None:
    assert set(CASES) | NOT_LOSSES == set(losses.__all__)


def _inputs(shapes: list[tuple[int, ...]]) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.randn(s, generator=g) * 2.0 for s in shapes]


def _outputs(out: Any) -> list[torch.Tensor]:
    return list(out) if isinstance(out, tuple) else [out]


def _total(outs: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([o.sum() for o in outs]).sum()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_under_autocast(name: str, dtype: torch.dtype) -> None:
    """Under autocast(dtype): float32 outputs equal to the plain float32 computation on the same inputs (a loss
    run in half precision would differ by ~1e-3 relative), gradients in the inputs' dtype, and the loss of
    half-rounded inputs within ROUNDING_RTOL of the float32 loss. fp16 CPU autocast is supported by torch 2.x for
    the ops used here (matmul, einsum, linear); no case needs to be skipped."""
    shapes, fn = CASES[name]
    x32 = _inputs(shapes)
    reference = [o.detach() for o in _outputs(fn(*x32))]
    rounded_reference = _total(_outputs(fn(*(x.to(dtype).float() for x in x32)))).detach()

    with torch.autocast("cpu", dtype=dtype):
        outs = _outputs(fn(*x32))  # float32 inputs under autocast
    assert all(o.dtype == torch.float32 for o in outs), [o.dtype for o in outs]
    for o, r in zip(outs, reference, strict=True):
        torch.testing.assert_close(o.detach(), r, rtol=1e-6, atol=1e-6)

    xh = [x.to(dtype).requires_grad_() for x in x32]  # half inputs, as a head's output under autocast
    with torch.autocast("cpu", dtype=dtype):
        outs = _outputs(fn(*xh))
    assert all(o.dtype == torch.float32 for o in outs)
    total = _total(outs)
    torch.testing.assert_close(total.detach(), rounded_reference, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(total.detach(), _total(reference), rtol=ROUNDING_RTOL[dtype], atol=1e-3)
    total.backward()
    grads = [x.grad for x in xh if x.grad is not None]
    assert grads, "no input received a gradient"
    assert all(g.dtype == dtype and torch.isfinite(g).all() for g in grads)


def test_float32_loss_keeps_double_and_non_float() -> None:
    assert upcast(torch.ones(2, dtype=torch.float64)).dtype == torch.float64
    assert upcast(torch.ones(2, dtype=torch.bool)).dtype == torch.bool
    assert upcast(3) == 3

    @float32_loss
    def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a @ b

    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16  # what autocast does without it
        assert matmul(torch.ones(2, 2), b=torch.ones(2, 2, dtype=torch.bfloat16)).dtype == torch.float32
