"""The library behind the benchmark entry points (`python -m benchmarks.<name>`): machine and versions of a number
(`env`), timing (`timing`), training and scoring through the CLI (`budget_runs`, `curves`, `budget_report`),
throughput (`throughput`, `method_speed`, `loaders`, `embed_speed`), the LightlySSL references
(`parity_*`, SimCLR's reused by `throughput`), the GPU check's sections (`gpu_*`) and the video studies (`next_frame`, `video_jepa*`)."""

from __future__ import annotations

import argparse
import importlib


def dispatch(prog: str, doc: str, subcommands: dict[str, tuple[str, str]], argv: list[str]) -> None:
    """Run `subcommands[argv[0]]`'s module `main(argv[1:])`; `--help` lists the subcommands with their one-liners."""
    p = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0],
                                epilog="\n".join(f"  {k:10} {v[1]}" for k, v in subcommands.items()),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("subcommand", choices=tuple(subcommands), help="what to run (options: SUBCOMMAND --help)")
    args = p.parse_args(argv[:1])
    importlib.import_module(subcommands[args.subcommand][0]).main(argv[1:])
