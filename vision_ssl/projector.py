"""TensorBoard's embedding projector for `vision-ssl embed --projector` and `vision-ssl report` (`projector/`)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch


def write_projector(
    log_dir: str | os.PathLike[str], embeddings: Mapping[str, torch.Tensor], thumbnails: torch.Tensor,
    metadata: Sequence[Any], metadata_header: list[str] | None = None,
) -> None:
    """One projector tab per tagged embedding of the same N images, each point labelled and shown as its thumbnail.

    Args:
        log_dir: folder to write to (`tensorboard --logdir log_dir`).
        embeddings: tag -> (N, D) embeddings.
        thumbnails: uint8 images (N, C, h, w), C = 1 or 3 (gray is shown as RGB).
        metadata: one label per image (a list of columns per image with `metadata_header`).
        metadata_header: names of the metadata columns, or None for a single column.
    """
    from torch.utils.tensorboard import SummaryWriter

    images = thumbnails.float() / 255
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    with SummaryWriter(os.fspath(log_dir)) as writer:
        for tag, z in embeddings.items():
            writer.add_embedding(z, metadata=list(metadata), metadata_header=metadata_header, label_img=images, tag=tag)
