"""DINO's self-distillation loss (Caron et al. 2021, "Emerging Properties in Self-Supervised Vision Transformers",
arXiv:2104.14294, Eq. 1-3 and Algorithm 1).

The teacher's output on each global crop, centred and sharpened by a low temperature, is the target
distribution for the student's output on every *other* crop (global or local):

    P_t(x) = softmax((g_t(x) - c) / tau_t),    P_s(x') = softmax(g_s(x') / tau_s)
    L = sum_{x in globals} sum_{x' in crops, x' != x} H(P_t(x), P_s(x')),    H(a, b) = -sum_k a_k log b_k

averaged over the pairs and the batch. The centre c is an EMA of the teacher's mean output (Eq. 4), which with
the sharpening keeps the teacher from collapsing to one dimension or to the uniform distribution. `DINOLoss` owns
the centre (all-reduced over ranks) and the teacher-temperature warm-up; `dino_loss` is the pure function.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vision_ssl.losses.precision import float32_loss
from vision_ssl.utils.distributed import all_reduce_mean


@float32_loss
def dino_loss(
    teacher_logits: torch.Tensor,
    student_logits: torch.Tensor,
    teacher_temp: float = 0.04,
    student_temp: float = 0.1,
    center: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy between the centred, sharpened teacher and the student over pairs of different crops (Eq. 1).

    Args:
        teacher_logits: (V_t, B, K) teacher outputs on the global crops (treated as constants: no gradient).
        student_logits: (V_s, B, K) student outputs on all crops, the first V_t being the same global crops.
        teacher_temp: tau_t (paper: 0.04, warmed up to 0.07 in longer runs).
        student_temp: tau_s (paper: 0.1).
        center: (K,) centre subtracted from the teacher logits; None: no centring.

    Returns:
        The scalar loss, averaged over the V_t * V_s - V_t pairs of different crops and the batch.
    """
    if teacher_logits.ndim != 3 or student_logits.ndim != 3:
        raise ValueError(f"expected (V, B, K) logits, got teacher {tuple(teacher_logits.shape)} and student "
                         f"{tuple(student_logits.shape)}")
    v_t, v_s = teacher_logits.shape[0], student_logits.shape[0]
    if teacher_logits.shape[1:] != student_logits.shape[1:] or v_s < v_t or v_s < 2:
        raise ValueError(f"teacher (V_t, B, K) = {tuple(teacher_logits.shape)} and student (V_s, B, K) = "
                         f"{tuple(student_logits.shape)} must share B and K, with V_s >= V_t and V_s >= 2")
    if teacher_temp <= 0 or student_temp <= 0:
        raise ValueError(f"temperatures must be positive, got teacher_temp={teacher_temp}, student_temp={student_temp}")
    teacher = teacher_logits.detach()
    if center is not None:
        teacher = teacher - center.reshape(1, 1, -1)
    targets = F.softmax(teacher / teacher_temp, dim=-1)  # (V_t, B, K)
    log_probs = F.log_softmax(student_logits / student_temp, dim=-1)  # (V_s, B, K)
    ce = -torch.einsum("tbk,sbk->tsb", targets, log_probs).mean(-1)  # (V_t, V_s): mean over the batch
    same_crop = torch.eye(v_t, v_s, dtype=torch.bool, device=ce.device)  # teacher crop i = student crop i
    return ce.masked_fill(same_crop, 0.0).sum() / (v_t * v_s - v_t)


def teacher_temperature(epoch: float, warmup_temp: float = 0.04, final_temp: float = 0.04,
                        warmup_epochs: float = 30.0) -> float:
    """DINO's teacher temperature: linear from `warmup_temp` to `final_temp` over `warmup_epochs`, then constant
    (Sec. 3.1 and Appendix: 0.04 -> 0.07 over the first 30 epochs for ViT-S/16)."""
    if warmup_epochs <= 0 or epoch >= warmup_epochs:
        return final_temp
    return warmup_temp + (final_temp - warmup_temp) * max(0.0, epoch) / warmup_epochs


class DINOLoss(nn.Module):
    """`dino_loss` with the centre it owns: c <- m c + (1 - m) mean(teacher logits) (Eq. 4), the batch mean taken
    over every rank (`all_reduce_mean`), after the loss of the step is computed; plus the temperature warm-up.

    Args:
        out_dim: K, the width of the heads' outputs.
        student_temp: tau_s (paper: 0.1).
        warmup_teacher_temp: tau_t at epoch 0 (paper: 0.04).
        teacher_temp: tau_t after the warm-up (paper: 0.04-0.07).
        warmup_teacher_temp_epochs: warm-up length (paper: 30; fractions allowed).
        center_momentum: m (paper: 0.9).
    """

    center: torch.Tensor  # buffer, registered in __init__

    def __init__(self, out_dim: int, student_temp: float = 0.1, warmup_teacher_temp: float = 0.04,
                 teacher_temp: float = 0.04, warmup_teacher_temp_epochs: float = 30.0,
                 center_momentum: float = 0.9) -> None:
        super().__init__()
        if not 0.0 <= center_momentum < 1.0:
            raise ValueError(f"center_momentum must be in [0, 1), got {center_momentum}")
        if min(student_temp, warmup_teacher_temp, teacher_temp) <= 0:
            raise ValueError(f"temperatures must be positive, got student {student_temp}, teacher "
                             f"{warmup_teacher_temp} -> {teacher_temp}")
        self.student_temp, self.center_momentum = student_temp, center_momentum
        self.warmup_teacher_temp, self.teacher_temp = warmup_teacher_temp, teacher_temp
        self.warmup_teacher_temp_epochs = warmup_teacher_temp_epochs
        self.register_buffer("center", torch.zeros(out_dim))  # checkpointed with the model

    def temperature(self, epoch: float) -> float:
        return teacher_temperature(epoch, self.warmup_teacher_temp, self.teacher_temp, self.warmup_teacher_temp_epochs)

    def forward(self, teacher_logits: torch.Tensor, student_logits: torch.Tensor, epoch: float = 0.0,
                update_center: bool = True) -> torch.Tensor:
        """The loss with the current centre and the temperature of `epoch`, then the centre update."""
        loss = dino_loss(teacher_logits, student_logits, self.temperature(epoch), self.student_temp, self.center)
        if update_center:
            self.update_center(teacher_logits)
        return loss

    @torch.no_grad()
    def update_center(self, teacher_logits: torch.Tensor) -> None:
        batch_center = all_reduce_mean(teacher_logits.detach().float().mean(dim=(0, 1)))  # (K,) over all ranks
        self.center.mul_(self.center_momentum).add_(batch_center, alpha=1.0 - self.center_momentum)
