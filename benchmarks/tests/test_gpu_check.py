"""`bash benchmarks/gpu_check.sh --smoke` runs every section of the GPU check on a CPU (tiny sizes, fake data)
and writes its JSON and Markdown report where it is told, not into benchmarks/results/."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):  # noqa: ANN001, ANN201
    out, work = tmp_path_factory.mktemp("out"), tmp_path_factory.mktemp("work")
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    # --peer torchvision: the GPU machine has no lightly, so its path is the one to keep working.
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--smoke", "--out", str(out),
                           "--work", str(work), "--peer", "torchvision"], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    files = sorted(p.name for p in out.iterdir())
    assert files == ["gpu_cpu_smoke.json", "gpu_cpu_smoke.md"], files
    return json.loads((out / "gpu_cpu_smoke.json").read_text()), (out / "gpu_cpu_smoke.md").read_text()


def test_every_section_ran(smoke):
    report, _ = smoke
    sections = report["sections"]
    assert set(sections) == {"sync", "a_epoch", "b_methods", "c_options", "d_pretrain_knn"}
    failed = {k: v.get("error") or v.get("skipped") for k, v in sections.items() if "result" not in v}
    assert not failed


def test_report_holds_versions_commands_and_side_by_side(smoke):
    report, page = smoke
    assert {"torch", "lightning", "timm", "kornia"} <= {k for k, v in report["environment"]["versions"].items() if v}
    assert report["commands"][0].startswith("bash benchmarks/gpu_check.sh --smoke")
    assert report["commands"][1].startswith("vision-ssl fit --config")
    a = report["sections"]["a_epoch"]["result"]
    assert a["ours_epoch_seconds"] > 0 and a["peer_epoch_seconds"] > 0
    assert a["peer"].startswith("torchvision.transforms.v2 per sample")
    assert "no number here is a measurement" in page


def test_every_method_with_a_recipe_has_a_row(smoke):
    from vision_ssl.registry import IMAGE_METHODS

    b = smoke[0]["sections"]["b_methods"]["result"]
    assert {r["name"] for r in b["rows"]} == set(IMAGE_METHODS)
    assert not [r for r in b["rows"] if "error" in r], [r for r in b["rows"] if "error" in r]
    assert all(r["img_per_s"] > 0 for r in b["rows"])


def test_options_and_pretrain(smoke):
    report, _ = smoke
    runs = {r["run"] for r in report["sections"]["c_options"]["result"]}
    assert runs == {"all on", "all off", "bf16 off", "channels_last off", "compile off"}
    d = report["sections"]["d_pretrain_knn"]["result"]
    assert 0 <= d["knn_val_top1"] <= 1 and 0 <= d["random_knn_test_top1"] <= 1
    assert report["sections"]["sync"]["result"]["checked"] is False  # no CUDA here: said, not faked
