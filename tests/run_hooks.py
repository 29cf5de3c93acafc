"""Lightning callbacks that tests hand to a run, in this process or in a `vision-ssl fit` subprocess
(`--trainer.callbacks+=run_hooks.KillAtStep`, with `tests/` on the subprocess's PYTHONPATH)."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

import lightning as L


class KillAtStep(L.Callback):
    """SIGKILLs its own process when `step` optimizer steps are done, before the next batch trains.

    Lightning runs checkpoint callbacks after the others, so `on_train_batch_end` of step `step` comes before that
    step's `last.ckpt`; by `on_train_batch_start` of the next batch it is written (and the CSV logger has flushed
    the step's row). The kill is a real SIGKILL (no handler, no cleanup), at a step the test chooses.
    """

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class RecordLabels(L.Callback):
    """Appends `{"rank", "epoch", "labels"}` per training batch to a JSON-lines file (labels are sample ids when
    FakeDataModule has as many classes as samples)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
        with open(self.path, "a") as f:
            f.write(json.dumps({"rank": trainer.global_rank, "epoch": trainer.current_epoch,
                                "labels": batch[1].tolist()}) + "\n")


class Recorder(L.Callback):
    """Appends each raw uint8 training batch (before on-device augmentation) to `out/rank{r}.jsonl`; at `kill_at`
    optimizer steps it kills the process (`exit`) or raises (`raise`) before that step's checkpoint is written."""

    def __init__(self, out: str, kill_at: int = -1, kill: str = "exit") -> None:
        self.out, self.kill_at, self.kill = out, kill_at, kill

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        hook, path = pl_module.on_before_batch_transfer, os.path.join(self.out, f"rank{trainer.global_rank}.jsonl")

        def record(batch, dataloader_idx):  # type: ignore[no-untyped-def]
            with open(path, "a") as f:
                f.write(json.dumps({"step": trainer.global_step, "epoch": trainer.current_epoch,
                                    "keys": [x.flatten().numpy().tobytes().hex() for x in batch[0]]}) + "\n")
            return hook(batch, dataloader_idx)

        pl_module.on_before_batch_transfer = record

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
        if trainer.global_step == self.kill_at:
            if self.kill == "exit":
                os._exit(3)
            raise Killed(f"killed at step {self.kill_at}")


class Killed(Exception):
    """A kill in this process (Lightning turns KeyboardInterrupt into sys.exit)."""
