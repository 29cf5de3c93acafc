"""Shared by the benchmark scripts: the machine and library versions a number was measured with. The small
CPU-budget recipe every method is trained with (`METHOD_ARGS`, `build_method`) lives in tests/helpers.py, shared
with the learning tests, and is re-exported here.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import IMAGE_METHODS, METHOD_ARGS, build_method  # noqa: E402,F401  (re-exported)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

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
