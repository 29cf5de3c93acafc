"""The Markdown page of benchmarks/gpu_check.py, written from its JSON report after every section."""

from __future__ import annotations

from typing import Any

TARGETS = "≤ 3 s per 50,000-image epoch for (a), ≥ 2x the LightlySSL-style peer on the same GPU, no host sync in the step"


def _f(x: Any, fmt: str = "{:.1f}") -> str:
    return fmt.format(x) if isinstance(x, (int, float)) else "-"


def _section(report: dict, name: str) -> tuple[Any, list[str]]:
    """(result or None, lines saying why there is none)."""
    s = report["sections"].get(name)
    if s is None:
        return None, ["Not run yet."]
    if "result" in s:
        return s["result"], []
    if "skipped" in s:
        return None, [f"Skipped: {s['skipped']}."]
    return None, [f"Failed after {s['seconds']:.0f} s: `{s['error']}`", "", "```", s["traceback"].strip(), "```"]


def _sync(r: dict) -> list[str]:
    if not r["checked"]:
        return [r["note"] + "."]
    lines = [f"{r['steps']} SimCLR steps after {r['after_warmup_steps']} warm-up steps, bf16, channels_last, eager. "
             f"Host-sync free: **{'yes' if r['host_sync_free'] else 'no'}**.", "",
             f"- `warn` mode: {r['warn_mode_count']} synchronising calls"
             + (":" if r["warn_mode_lines"] else ".")]
    lines += [f"  - `{line}`" for line in r["warn_mode_lines"]]
    lines.append(f"- `error` mode: {r['error_mode']}")
    if "error_mode_innermost" in r:
        lines += [f"  - innermost frame: `{r['error_mode_innermost']}`",
                  f"  - innermost vision_ssl frame: `{r['error_mode_innermost_vision_ssl']}`"]
    return lines


def _epoch(r: dict) -> list[str]:
    return [f"`speed train`'s e2e/simclr: loader + views + step, batch {r['batch_size']}, {r['options']}; "
            f"an epoch of {r['epoch_images']:,} images timed at the median steady rate (after the warm-up, which "
            "compiles and starts workers).", "",
            "| | seconds per epoch | images/s |", "| --- | --- | --- |",
            f"| ours (uint8 batches, views on the GPU) | **{_f(r['ours_epoch_seconds'], '{:.2f}')}** | "
            f"{_f(r['ours_img_per_s'], '{:.0f}')} |",
            f"| peer: {r['peer']}, {r['peer_workers']} workers | **{_f(r['peer_epoch_seconds'], '{:.2f}')}** | "
            f"{_f(r['peer_img_per_s'], '{:.0f}')} |", "",
            f"Ours is **{_f(r['speedup'], '{:.2f}')}x** the peer."]


def _methods(r: dict) -> list[str]:
    ok = [row for row in r["rows"] if "error" not in row]
    lines = ([f"`speed train`'s method/* records: batch {ok[0]['batch_size']}, {ok[0]['options']}; Trainer.fit with "
              "augmentation, online probe and logging; median images/s of the windows after the warm-up.", ""]
             if ok else [])
    lines += ["| method | backbone | train images/s | data pipeline images/s | peak memory (MiB) |",
              "| --- | --- | --- | --- | --- |"]
    for row in r["rows"]:
        if "error" in row:
            lines.append(f"| {row['name']} | - | failed: `{row['error'][:150]}` | - | - |")
        else:
            lines.append(f"| {row['name']} | {row['backbone']} | {_f(row['img_per_s'], '{:.0f}')} | "
                         f"{_f(row['data_img_per_s'], '{:.0f}')} | {_f(row['peak_memory_mib'], '{:.0f}')} |")
    return lines + [""] + [f"- {n}" for n in r["notes"]]


def _options(rows: list[dict]) -> list[str]:
    lines = ["`speed train`'s option records: our SimCLR step on ready views, each run interleaved with all off.", "",
             "| run | options | images/s | vs all off | first step (s, incl. compile) |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['run']} | {r['options']} | " + (f"skipped: {r['skipped']} | - | - |" if "skipped" in r else
              f"{_f(r['img_per_s'], '{:.0f}')} | {_f(r['vs_all_off'], '{:.2f}')}x | {_f(r['first_step_seconds'])} |")
              for r in rows]
    return lines


def _pretrain(r: dict) -> list[str]:
    return [f"`{r['command']}`", "",
            f"Trained on {r['train_images']:,} images in {_f(r['fit_seconds'])} s (validation included); kNN "
            f"(k={r['k']}) of `last.ckpt`:", "",
            "| | val top-1 | test top-1 |", "| --- | --- | --- |",
            f"| pretrained | **{_f(r['knn_val_top1'], '{:.4f}')}** | **{_f(r['knn_test_top1'], '{:.4f}')}** |",
            f"| random-weights twin | {_f(r['random_knn_val_top1'], '{:.4f}')} | "
            f"{_f(r['random_knn_test_top1'], '{:.4f}')} |"]


def markdown(report: dict) -> str:
    env = report["environment"]
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v)
    title = "GPU check, smoke run on a CPU (tiny sizes, fake data: no number here is a measurement)" \
        if report["smoke"] else f"GPU check on {env['gpu']}"
    lines = [f"# {title}", "", f"Date {report['date']}; device {env['gpu'] or 'CPU only'}; CPU {env['cpu']}, "
             f"{env['cpu_cores']} cores; Python {env['python']}; {versions}. Total {report.get('wall_seconds', 0):.0f} s.",
             "", "Commands:", ""] + [f"- `{c}`" for c in report["commands"]]
    if report.get("setup"):
        lines += ["", f"Setup: {report['setup']}"]
    lines += ["", f"Targets (issue 13): {TARGETS}. Data root: `{report['data_root']}`."]
    for name, title_, fn in (("sync", "Host syncs in the training step", _sync),
                             ("a_epoch", "(a) SimCLR ResNet-18 epoch, ours vs per-sample transforms", _epoch),
                             ("b_methods", "(b) Every method: images/s and peak memory", _methods),
                             ("c_options", "(c) bf16, channels_last, torch.compile on and off", _options),
                             ("d_pretrain_knn", "(d) Short pretrain on Fashion-MNIST and kNN top-1", _pretrain)):
        result, why = _section(report, name)
        lines += ["", f"## {title_}", ""] + (fn(result) if result is not None else why)
    return "\n".join(lines) + "\n"
