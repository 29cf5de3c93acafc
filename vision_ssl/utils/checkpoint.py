"""Checkpoint reading that names a bad file, writing that a kill cannot corrupt, and the one `last.ckpt`."""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since PyTorch 1.6 is a zip archive
LEGACY_MAGIC = b"\x80"  # the pre-1.6 format starts with a pickle protocol-2 opcode
FIX = "give a checkpoint written by `vision-ssl fit` (a run's last.ckpt or best-*.ckpt), or re-run the training"
# What torch.load raises on a damaged file: a zip that will not open, a pickle stream cut short or garbled.
READ_ERRORS = (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, UnicodeDecodeError)


def _damage(path: str) -> str | None:
    """Why `path` cannot be a torch.save file, judged from its bytes alone (None: it may be one)."""
    size = os.path.getsize(path)
    if size == 0:
        return "is empty (0 bytes), not a checkpoint"
    with open(path, "rb") as f:
        head = f.read(4)
    if head == ZIP_MAGIC:
        return None if zipfile.is_zipfile(path) else f"is truncated ({size} bytes; the zip archive has no end record)"
    if head.startswith(LEGACY_MAGIC):
        return None
    return f"is not a checkpoint (it does not start like a file written by torch.save: {head!r})"


def load_torch_file(path: str, weights_only: bool = False, what: str = "checkpoint") -> Any:
    """`torch.load` on the CPU with one clear error (naming the file as `what`) for a missing, empty, truncated or
    corrupt file; garbage is refused from its first bytes, before any unpickling."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} '{path}' does not exist")
    damage = _damage(path)
    if damage:
        raise ValueError(f"{what} '{path}' {damage}; {FIX}")
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except READ_ERRORS as err:
        # weights_only=True hides the unpickler's own words in a paragraph of advice: keep those words alone.
        text = str(err).partition("WeightsUnpickler error:")[2] or str(err)
        reason = next((line.strip() for line in text.splitlines() if line.strip()), type(err).__name__)
        if "Unsupported global" in reason:
            raise ValueError(f"{what} '{path}' holds a Python object that weights-only loading refuses "
                             f"({reason[:160]}); save its hyper-parameters as plain values, or {FIX}") from err
        raise ValueError(f"{what} '{path}' is corrupt (torch.load: {reason[:160]}); {FIX}") from err


def load_checkpoint(path: str, weights_only: bool = False) -> dict[str, Any]:
    """Load a Lightning checkpoint on the CPU, with one clear error for a missing, corrupt or foreign file.

    Args:
        path: the checkpoint file.
        weights_only: passed to `torch.load` (True refuses pickled Python objects other than tensors).

    Returns:
        The checkpoint dictionary (`state_dict`, `hyper_parameters`, ...).

    Raises:
        FileNotFoundError: `path` is not a file.
        ValueError: the file is empty, truncated, corrupt, or holds something other than a checkpoint dictionary.
    """
    ckpt = load_torch_file(path, weights_only)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        what = f"a {type(ckpt).__name__}" + (" without 'state_dict'" if isinstance(ckpt, dict) else "")
        raise ValueError(f"'{path}' is not a training checkpoint (it holds {what}); {FIX}")
    return ckpt


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes to a temporary file in the target folder, fsyncs it, then renames it over the target.

    `os.replace` is atomic on POSIX and Windows, so a process killed during a save leaves the previous
    checkpoint (e.g. `last.ckpt`) intact instead of a truncated file. Remote paths fall back to Lightning's writer.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        path = str(path)
        if "://" in path:
            return super().save_checkpoint(checkpoint, path, storage_options)
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".ckpt", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise


class LastCheckpoint(ModelCheckpoint):
    """The run's one `last.ckpt`: every `every_n_train_steps` optimizer steps, and the final state when training
    ends (Lightning's `save_last` alone writes "last" only when a top-k file is saved, so it can lag behind).

    A run stopped by an exception (a kill, a non-finite loss) skips the final save and keeps the last good file.
    Used with `save_top_k=0` and `enable_version_counter=False`, so it never writes `last-v1.ckpt`.
    """

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.save_last or self.dirpath is None:
            return
        path = self.last_model_path or os.path.join(self.dirpath, self.CHECKPOINT_NAME_LAST + self.FILE_EXTENSION)
        self.last_model_path = path  # before saving: it is part of this callback's state in the file
        trainer.save_checkpoint(path, weights_only=False)  # the full state: resumable
