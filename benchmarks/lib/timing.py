"""Timing helpers of the throughput benchmark: steady-state images/s as the median of timed windows after a
warm-up, interleaved A/B windows for ratios on a drifting shared machine, and peak memory (CPU: peak RSS above
the starting RSS, via /proc; GPU: `torch.cuda.max_memory_allocated`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

Step = Callable[[], int]  # runs one step, returns the number of images it processed


def sync(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def window(step: Step, steps: int, device: torch.device | str = "cpu") -> float:
    """Images per second over `steps` consecutive calls of `step`."""
    sync(device)
    start, images = time.perf_counter(), 0
    for _ in range(steps):
        images += step()
    sync(device)
    return images / (time.perf_counter() - start)


def interleaved(
    steps: dict[str, Step], warmup: int, windows: int, per_window: int, device: torch.device | str = "cpu"
) -> dict[str, list[float]]:
    """Warm every step up, then time windows in turn (A B A B ...) so drift of a shared machine hits all alike."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    rates: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(windows):
        for name, step in steps.items():
            rates[name].append(window(step, per_window, device))
    return rates


def fresh_iterator_windows(
    loaders: dict[str, Callable[[], Iterable[Any]]], consume: dict[str, Callable[[Any], int]], warmup: int,
    windows: int, per_window: int, device: torch.device | str = "cpu",
) -> dict[str, list[float]]:
    """Like `interleaved` for data loaders with worker processes: every window starts a fresh iterator and drops
    `warmup` batches first, so batches another loader's workers prefetched while idle never count."""
    rates: dict[str, list[float]] = {name: [] for name in loaders}
    for _ in range(windows):
        for name, make in loaders.items():
            it: Iterator[Any] = iter(make())
            for _ in range(warmup):
                consume[name](next(it))

            def step(it: Iterator[Any] = it, use: Callable[[Any], int] = consume[name]) -> int:
                return use(next(it))

            rates[name].append(window(step, per_window, device))
            del it, step  # the iterator's workers shut down
    return rates


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class PeakMemory:
    """Peak memory of a block: CUDA allocator peak on a GPU, else peak RSS above the RSS at entry (Linux).

    The CPU figure resets the kernel's high-water mark (`/proc/self/clear_refs`, value 5); where that is not
    allowed, `mib` is None rather than a number that includes earlier peaks.
    """

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.cuda = torch.device(device).type == "cuda"
        self.mib: float | None = None
        self._base = 0

    def __enter__(self) -> PeakMemory:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._base = torch.cuda.memory_allocated()
            return self
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self._base = _status_kb("VmRSS")
        except OSError:
            self._base = -1
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.mib = (torch.cuda.max_memory_allocated() - self._base) / 2**20
        elif self._base >= 0:
            self.mib = (_status_kb("VmHWM") - self._base) / 1024


def record(name: str, ours: list[float], peer_name: str | None, peer: list[float] | None, **extra: Any) -> dict:
    o = median(ours)
    p = median(peer) if peer else None
    return {"name": name, "ours_img_per_s": o, "peer": peer_name, "peer_img_per_s": p,
            "ratio": o / p if p else None, "ours_windows": ours, "peer_windows": peer, **extra}
