"""`python -m benchmarks.speed parity`: variants parse, rates start at the last warm-up step, the summary pairs
each side (and each variant) with the same lightly runs, and a one-step run of both sides writes its table."""

from __future__ import annotations

import argparse
import json

import pytest

from benchmarks.lib import parity_speed
from tests.helpers import DATA_ROOT


def test_variant_parses_yaml_values_and_rejects_unknown_methods():
    assert parity_speed.parse_variant("mae:probe_every=4,norm_pix=true") == ("mae", {"probe_every": 4,
                                                                                    "norm_pix": True})
    for bad in ("nope:probe_every=4", "mae", "mae:"):
        with pytest.raises(argparse.ArgumentTypeError):
            parity_speed.parse_variant(bad)


def test_rate_counts_the_steps_after_the_warmup():
    times = [0.0, 1.0, 2.0, 3.0, 3.5, 4.0]  # times[i] ends step i + 1; warm-up 3: steps 4-6 from 2.0 s to 4.0 s
    assert parity_speed._rate(times, 10, warmup=3) == pytest.approx(15.0)


def test_phases_split_each_timed_step_into_input_and_model():
    starts = [0.5, 1.2, 2.3, 3.1]  # batch i starts at starts[i] and its optimizer step ends at ends[i]
    ends = [1.0, 2.0, 3.0, 4.0]
    phases = parity_speed._phases(starts, ends, warmup=1)  # timed steps 1-3: inputs 0.2, 0.3, 0.1; models 0.8, 0.7, 0.9
    assert phases == pytest.approx({"input_ms": 200.0, "model_ms": 800.0})


def test_summary_pairs_ours_and_variants_with_lightly():
    runs = [{"method": m, "impl": impl, "repeat": rep, "img_per_s": rate, "max_rss_mib": 1.0, "growth_mib": 0.0, "load_avg": 2.0}
            for rep in range(3) for m, impl, rate in (("mae", "ours", 300 + rep), ("mae[probe_every=4]", "ours", 250),
                                                      ("mae", "lightly", 200), ("mae[probe_every=4]", "lightly", 200))]
    rows = {r["method"]: r for r in parity_speed.summarise(runs)}
    assert rows["mae"]["ratio"] == pytest.approx(301 / 200) and rows["mae[probe_every=4]"]["ratio"] == 1.25
    meta = {"environment": {"command": "x", "cpu": "cpu", "cpu_cores": 2, "torch_threads": 1, "versions": {}},
            "config": {"batch_size": 256, "samples": 8192, "steps": 12, "warmup": 3, "repeats": 3}}
    assert "| mae[probe_every=4] | 250 | 200 | 1.25 | 1.25, 1.25, 1.25 |" in parity_speed.markdown(list(rows.values()), meta)


def test_one_step_runs_write_the_table(tmp_path, one_thread):
    impls = ["ours", "lightly"] if parity_speed.lightly_installed() else ["ours"]
    parity_speed.main(["--methods", "simclr", "--impls", *impls, "--samples", "256", "--batch-size", "32",
                       "--warmup", "1", "--steps", "2", "--repeats", "1", "--root", str(DATA_ROOT),
                       "--out", str(tmp_path / "speed")])
    rows = json.loads((tmp_path / "speed.json").read_text())["summary"]
    assert rows[0]["method"] == "simclr" and rows[0]["ours_img_per_s"] > 0
    assert rows[0]["ours_input_ms"] > 0 and rows[0]["ours_model_ms"] > 0
    if "lightly" in impls:
        assert rows[0]["lightly_input_ms"] > 0 and rows[0]["ceiling"] > 0
    assert "| simclr |" in (tmp_path / "speed.md").read_text()
