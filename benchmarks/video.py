"""Video studies on Stochastic Moving MNIST and a real video: next-frame prediction (deterministic vs
latent-variable) and video JEPA (latent vs deterministic predictor, probed per horizon; `--real-video`: nearest
neighbours of predicted embeddings on OpenCV's vtest.avi).

    python -m benchmarks.video next-frame [--steps 10000 --digits 2 --warp ...]   # next_frame_*.{json,md,png}
    python -m benchmarks.video jepa [--real-video]                               # video_jepa_moving_mnist*.*
    python -m benchmarks.video SUBCOMMAND --help
"""

from __future__ import annotations

import sys

from benchmarks.lib import dispatch

SUBCOMMANDS = {
    "next-frame": ("benchmarks.lib.next_frame", "deterministic vs SVG-LP next-frame prediction, same budget"),
    "jepa": ("benchmarks.lib.video_jepa", "video JEPA predictors probed per horizon; --real-video: vtest.avi"),
}


def main(argv: list[str] | None = None) -> None:
    dispatch("python -m benchmarks.video", __doc__, SUBCOMMANDS, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
