"""Shared by the benchmark entry points: the machine and library versions a number was measured with, and where
results go. Recipes are not here: they are the configs (`vision_ssl.recipes`)."""

from __future__ import annotations

import json
import os
import platform
import sys
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"
WEIGHTS = REPO / "runs"  # git-ignored: trained networks, for re-evaluation

def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """Device, core count, load and library versions, stored next to every number."""
    versions = {}
    for pkg in ("torch", "lightning", "kornia", "timm", "lightly", "torchvision"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": cpu_model(), "cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "load_avg_1min": round(os.getloadavg()[0], 2), "gpu": gpu, "python": sys.version.split()[0],
        "versions": versions, "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=float))
    tmp.replace(path)


class LoadSampler:
    """The 1-minute load average every `every` seconds in a daemon thread, while a row runs."""

    def __init__(self, every: float = 30.0) -> None:
        self.samples = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict[str, float]:
        return {"load_avg_mean": round(sum(self.samples) / len(self.samples), 2),
                "load_avg_max": round(max(self.samples), 2)}
