"""Video studies on Stochastic Moving MNIST and a real video: next-frame prediction (deterministic vs
latent-variable) and video JEPA (latent vs deterministic predictor, probed per horizon; `--real-video`: nearest
neighbours of predicted embeddings on OpenCV's vtest.avi).

    python -m benchmarks.video next-frame [--steps 10000 --digits 2 --warp ...]   # next_frame_*.{json,md,png}
    python -m benchmarks.video jepa [--real-video]                               # video_jepa_moving_mnist*.*
    python -m benchmarks.video SUBCOMMAND --help
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = {
    "next-frame": ("benchmarks.lib.next_frame", "deterministic vs SVG-LP next-frame prediction, same budget"),
    "jepa": ("benchmarks.lib.video_jepa", "video JEPA predictors probed per horizon; --real-video: vtest.avi"),
}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m benchmarks.video", description=__doc__.split("\n\n")[0],
                                epilog="\n".join(f"  {k:10} {v[1]}" for k, v in SUBCOMMANDS.items()),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("subcommand", choices=tuple(SUBCOMMANDS), help="which study (options: SUBCOMMAND --help)")
    args = p.parse_args(argv[:1])
    importlib.import_module(SUBCOMMANDS[args.subcommand][0]).main(argv[1:])


if __name__ == "__main__":
    main()
