"""`SpeedOptions`: channels_last memory format and `torch.compile`, set from YAML (`speed:` in a config).

    speed: {channels_last: true, compile: true}               # the GPU configs
    vision-ssl fit --config configs/simclr_cifar10.yaml --speed.compile false

Both options change speed only, never results beyond float rounding: channels_last stores 4-D weights and the
training views as (B, H, W, C) in memory, which the GPU's tensor-core convolutions read without transposes;
`compile` runs the method's encoders through `torch.compile` (TorchInductor kernels, fused element-wise ops).
Compilation happens in place (`nn.Module.compile`), so parameter names, checkpoints and EMA copies are unchanged.
On a CPU both still apply (channels_last is about neutral there, compiling costs time up front); they are never
dropped silently, and one info line says what was applied.

Which modules are compiled: a method's `compile_modules` class attribute (dotted submodule names), default
`("backbone",)`. Methods that run a ViT's blocks directly rather than its `forward` (I-JEPA) name the blocks.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities.rank_zero import rank_zero_info

from vision_ssl.methods.step import Views

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def compile_targets(pl_module: L.LightningModule) -> tuple[str, ...]:
    """Dotted names of the submodules `SpeedOptions(compile=True)` compiles (the method's `compile_modules`)."""
    return tuple(getattr(pl_module, "compile_modules", ("backbone",)))


def channels_last_views(views: Views) -> None:
    """Stores the 4-D training views of `views` as channels_last, in place (5-D video clips are left as they are)."""
    views.images = [v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v for v in views.images]


class SpeedOptions(L.Callback):
    """Converts the model to channels_last and compiles its encoders before training starts.

    Args:
        channels_last: store 4-D weights and the training views as channels_last (faster convolutions on GPUs
            with tensor cores under bf16/fp16; about neutral on a CPU).
        compile: `torch.compile` the method's `compile_modules` (default its backbone) in place. The first steps
            are slow while kernels compile; a shape seen for the first time compiles again.
        compile_mode: `torch.compile` mode, one of COMPILE_MODES; None: torch's default.
        compile_backend: `torch.compile` backend (`inductor`; `eager` only traces, for tests and debugging).

    Raises:
        ValueError: an unknown `compile_mode` or `compile_backend`, or a mode or backend given with compile off.
    """

    def __init__(self, channels_last: bool = False, compile: bool = False, compile_mode: str | None = None,
                 compile_backend: str = "inductor") -> None:
        if compile_mode is not None and compile_mode not in COMPILE_MODES:
            raise ValueError(f"speed.compile_mode must be one of {', '.join(COMPILE_MODES)} (or null), "
                             f"got '{compile_mode}'")
        if not compile and (compile_mode is not None or compile_backend != "inductor"):
            raise ValueError(f"speed.compile_mode ({compile_mode}) and compile_backend ({compile_backend}) need "
                             "speed.compile: true")
        backends = torch._dynamo.list_backends(exclude_tags=()) if compile else ["inductor"]  # 0.4 s: only if used
        if compile_backend not in backends:
            raise ValueError(f"speed.compile_backend must be one of {', '.join(backends)}, got '{compile_backend}'")
        self.channels_last, self.compile = channels_last, compile
        self.compile_mode, self.compile_backend = compile_mode, compile_backend
        self._applied: set[int] = set()  # id of each module already converted (setup runs once per stage)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Applies the options once per module, before the strategy moves it to its device."""
        if id(pl_module) in self._applied or not (self.channels_last or self.compile):
            return
        self._applied.add(id(pl_module))
        done = []
        if self.channels_last:
            pl_module.to(memory_format=torch.channels_last)  # 4-D parameters and buffers; `.to(device)` keeps it
            done.append("channels_last weights and training views")
        if self.compile:
            names = compile_targets(pl_module)
            for name in names:
                pl_module.get_submodule(name).compile(mode=self.compile_mode, backend=self.compile_backend)
            done.append(f"torch.compile of {', '.join(names)} (backend {self.compile_backend}, mode "
                        f"{self.compile_mode or 'default'})")
        device = "a GPU" if trainer.accelerator.__class__.__name__ != "CPUAccelerator" else "the CPU (neutral or "\
            "slower there; set speed.channels_last/speed.compile false to skip)"
        rank_zero_info(f"vision-ssl: speed options on {device}: {'; '.join(done)}")

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        """Makes the augmented views channels_last (they arrive from `on_after_batch_transfer` as `Views`)."""
        if self.channels_last and isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], Views):
            channels_last_views(batch[0])
