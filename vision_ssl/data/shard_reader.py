"""The LitData side of `StreamingImageDataModule`: a shard dataset that decodes in the loader workers, a loader that
stays resumable under Lightning, and an exact seeded carve. Imported when data is first asked for, so importing
`vision_ssl.data` does not import LitData."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from vision_ssl.data.extras import require

require("litdata", "reading image shards")  # one line naming the extra, before the imports below would fail
from litdata import StreamingDataLoader, StreamingDataset  # noqa: E402
from litdata.utilities.subsample import shuffle_lists_together, subsample_filenames_and_roi  # noqa: E402
from litdata.utilities.train_test_split import deepcopy_dataset  # noqa: E402

from vision_ssl.data.image_files import decode, fit_image  # noqa: E402


def decode_bytes(data: Any, size: int, channels: int) -> torch.Tensor:
    """Encoded image bytes -> uint8 (channels, size, size) by the folder modules' rule (`image_files`): shorter side
    resized to `size` (upsampled if smaller), centre-cropped; 16-bit PNGs scaled to 8 bits."""
    return fit_image(decode(bytes(data)), size, channels, upscale_small=True, name="")


class ShardImageDataset(StreamingDataset):
    """A split's shards, yielding `(uint8 image (C, S, S), label)`, or `(image, label, index, name)` with `ids`."""

    def __init__(self, input_dir: str, image_size: int, channels: int, ids: bool = False, **kwargs: Any) -> None:
        if "batch_decode" in inspect.signature(StreamingDataset.__init__).parameters:  # newer LitData
            # One sample at a time: LitData's default for our (bytes, int, bytes) samples deserialises windows of 256,
            # and with shuffling re-reads a window for nearly every sample (8x slower on the benchmark's JPEGs).
            kwargs.setdefault("batch_decode", 0)
        super().__init__(input_dir, **kwargs)
        self.image_size, self.channels, self.ids = image_size, channels, ids

    def __getitem__(self, index: Any) -> tuple[Any, ...]:
        where = self.input_dir.url or self.input_dir.path
        try:
            item = super().__getitem__(index)
        except Exception as err:  # noqa: BLE001 - LitData's readers raise many types on damaged chunks
            raise ValueError(f"cannot read sample {index} of the shards '{where}' ({type(err).__name__}: {flat(err)}); "
                             "they look damaged: write them again with `vision-ssl prepare-data ... --overwrite`") from err
        name = bytes(item["name"]).decode()
        try:
            image = decode_bytes(item["image"], self.image_size, self.channels)
        except (RuntimeError, ValueError) as err:
            raise ValueError(f"cannot decode image '{name}' (sample {item['index']}) of the shards '{where}': {flat(err)}; "
                             "write the shards again from a fixed source") from err
        return (image, item["label"], item["index"], name) if self.ids else (image, item["label"])


def flat(err: BaseException) -> str:
    """An error's message on one line (so a DataLoader worker's re-raised copy keeps all of it on its last line)."""
    return " ".join(str(err).split())


def stop_workers(iterator: Any) -> None:
    """Terminate a multi-process loader iterator's workers now, first unregistering them from PyTorch's SIGCHLD
    check (as its own `_shutdown_workers` does): otherwise their deaths surface later, in whatever loader is
    running, as "DataLoader worker ... is killed by signal: Terminated"."""
    workers = [w for w in getattr(iterator, "_workers", []) if w.is_alive()]
    if workers and getattr(iterator, "_worker_pids_set", False):
        from torch.utils.data._utils import signal_handling

        signal_handling._remove_worker_pids(id(iterator))
        iterator._worker_pids_set = False  # PyTorch's own shutdown must not remove them a second time
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.join()
    shutdown = getattr(iterator, "_shutdown_workers", None)
    if callable(shutdown):
        # Close the index queues now, with the workers gone (no wait): left to the iterator's finaliser, which can
        # run at interpreter exit, their feeder threads write to pipes already closed ("Exception in thread
        # QueueFeederThread ... OSError: Bad file descriptor").
        shutdown()


def one_line(err: BaseException) -> str:
    """The original message of an error re-raised by a DataLoader worker ("Caught ValueError in DataLoader worker
    process 0. Original Traceback ... ValueError: msg") - its last line."""
    text = str(err)
    if not text.startswith("Caught "):
        return text
    last = [line for line in text.splitlines() if line.strip()][-1]
    return last.partition(": ")[2] or last


class ShardLoader(StreamingDataLoader):
    """A `StreamingDataLoader` that ends its epochs under Lightning, and whose worker errors read as one line.

    Lightning stops asking for batches once it has the loader's `len()` of them, so LitData's generator never reaches
    its end: its "resumed" flag stays set (a resumed run's next epoch would be empty) and its workers, kept alive by
    their reader threads, cost PyTorch's 5 s shutdown timeout each. So with the epoch's last batch in hand we run the
    generator to its end before handing the batch out.
    """

    def __iter__(self) -> Iterator[Any]:
        last = len(self) * self.batch_size  # LitData counts a full batch per batch handed out
        inner = super().__iter__()
        try:
            for batch in inner:
                if self._num_samples_yielded_streaming >= last:
                    for _ in inner:  # nothing is left to yield; this lets LitData and its workers finish the epoch
                        pass
                yield batch
        except GeneratorExit:  # dropped mid-epoch (an error upstream, a `break`): its workers have nothing left to do
            self._stop_workers()
            raise
        except ValueError as err:
            self._stop_workers()
            raise ValueError(one_line(err)) from err
        except RuntimeError as err:  # LitData's chunk checks, e.g. a header that does not match index.json
            self._stop_workers()
            where = self.dataset.input_dir.url or self.dataset.input_dir.path
            raise ValueError(f"cannot read the shards '{where}': {one_line(err)} If a shard is damaged, write them "
                             "again with `vision-ssl prepare-data SRC OUT --overwrite`") from err

    def _get_iterator(self) -> Any:
        self._live_iterator = super()._get_iterator()
        return self._live_iterator

    def _stop_workers(self) -> None:
        """End this epoch's workers now (after an error, or when the epoch is dropped). LitData's reader threads can
        keep a worker alive, so PyTorch's clean shutdown would wait 5 s for each before killing it."""
        stop_workers(getattr(self, "_live_iterator", None))

    def state_dict(self) -> dict[str, Any]:
        return copy.deepcopy(super().state_dict())  # LitData returns its live dict, which later batches change

    def load_state_dict(self, obj: dict[str, Any]) -> None:
        """Load `obj` once: the data module and Lightning's loop may both hand over the same state, and loading it
        twice would move LitData's worker cursor on twice."""
        if obj == getattr(self, "_loaded_state", None):
            return
        super().load_state_dict(obj)
        self._loaded_state = copy.deepcopy(obj)


def len_of(dataset: StreamingDataset) -> int:
    """Images in a (carved) dataset over all ranks: the sizes of its chunk intervals."""
    return int(sum(end - start for start, end in dataset.region_of_interest))


def carve(dataset: StreamingDataset, counts: list[int], seed: int) -> list[StreamingDataset]:
    """Consecutive parts of exactly `counts` images of `dataset` after a seeded shuffle of its chunks: LitData's
    `train_test_split` with image counts instead of fractions (which it floors, losing an image per part)."""
    files, roi = shuffle_lists_together(list(dataset.subsampled_files), list(dataset.region_of_interest),
                                        np.random.RandomState([seed]))
    chunks = [{"filename": f} for f in files]
    parts = []
    for count in counts:
        names, part_roi, chunks, roi = subsample_filenames_and_roi(chunks, roi, count)
        part = deepcopy_dataset(dataset)
        part.subsampled_files = list(names)
        part.region_of_interest = [(int(a), int(b)) for a, b in part_roi]  # plain ints: checkpoints load weights-only
        part.reset()
        parts.append(part)
    return parts

