"""Speed: images/s of view augmentation, the training step, end-to-end training of every image method, and the
loaders, on `--device cpu|cuda` with the speed options (bf16, channels_last, torch.compile) on or off.

    python -m benchmarks.speed train [--device cuda --bf16 --channels-last --compile ...]   # views, step, methods
    python -m benchmarks.speed loaders [--images 20000 --size 96 --workers 0 2 4]           # folders vs shards
    python -m benchmarks.speed embed [--images 10000 --size 64]                             # vision_ssl.embed
    python -m benchmarks.speed parity [--methods byol ijepa mae --repeats 3]                # vs LightlySSL's loops
    python -m benchmarks.speed SUBCOMMAND --help

`train`: benchmarks/results/throughput_cpu.{json,md} (`make bench-quick`); views and step side by side with
LightlySSL's SimCLR when the `bench` extra is installed, then every image method's published recipe trained by
Lightning. `loaders`: streaming_throughput.*; `embed`: embed_throughput.*. `parity`: parity_speed.*, every method
LightlySSL also implements at the peer-parity budget, `vision-ssl fit` vs the lightly loop of `benchmarks.parity`.
"""

from __future__ import annotations

import sys

from benchmarks.lib import dispatch

SUBCOMMANDS = {  # name: (module with main(argv), what it measures)
    "train": ("benchmarks.lib.throughput", "views, training step and end-to-end training of every image method"),
    "loaders": ("benchmarks.lib.loaders", "image folders vs LitData shards, images/s per loader worker count"),
    "embed": ("benchmarks.lib.embed_speed", "vision_ssl.embed from memory and from a folder of PNG files"),
    "parity": ("benchmarks.lib.parity_speed", "per-method training images/s at the parity budget vs LightlySSL"),
}


def main(argv: list[str] | None = None) -> None:
    dispatch("python -m benchmarks.speed", __doc__, SUBCOMMANDS, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
