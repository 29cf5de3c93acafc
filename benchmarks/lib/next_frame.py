"""Deterministic vs latent-variable (SVG-LP) next-frame prediction on Stochastic Moving MNIST, same budget.

Trains both predictors for the same number of steps on the same clips, then scores N prior samples per test
clip (the deterministic model has one): best-of-N and mean SSIM / PSNR, sharpness ratio (1.0 = as sharp as the
truth), Mathieu et al.'s gradient-difference sharpness and sample diversity. Writes a Markdown table, a JSON
file and a PNG grid (per clip: true future, deterministic prediction, latent samples) under benchmarks/results/.

    python -m benchmarks.video next-frame                      # CPU-sized defaults (32x32, see --help)
    python -m benchmarks.video next-frame --image-size 64 --steps 20000 --width 64 --g-dim 128 --rnn-size 256

With `--predictors latent` and `--predictors deterministic` in two processes (same other arguments) the two
predictors train side by side; the second to finish writes the table.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import lightning as L
import torch
from torchvision.utils import save_image

from benchmarks.lib.env import RESULTS, WEIGHTS
from benchmarks.lib.video_progress import add_moving_mnist_args
from vision_ssl.data.moving_mnist import StochasticMovingMNISTDataModule
from vision_ssl.methods.next_frame import NextFramePredictor
from vision_ssl.metrics.video import summarize_samples

PREDICTORS = ("deterministic", "latent")
TRIVIAL = ("copy the last observed frame", "blank frame")
COLUMNS = ("ssim", "psnr", "ssim_mean", "psnr_mean", "sharpness_ratio", "gradient_energy_ratio", "grad_diff_sharpness",
           "diversity")


class Progress(L.Callback):
    """Print the training loss every 50 steps."""

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: object) -> None:
        if trainer.global_step % 50 == 0:
            logs = {k: round(float(v), 5) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
            print(f"  step {trainer.global_step}: {logs}", flush=True)


def data_module(args: argparse.Namespace) -> StochasticMovingMNISTDataModule:
    return StochasticMovingMNISTDataModule(
        root=args.root, image_size=args.image_size, num_digits=args.digits, context_frames=args.context,
        future_frames=args.future, train_clips=args.steps * args.batch_size, test_clips=args.test_clips,
        batch_size=args.batch_size, num_workers=0, seed=args.seed,
    )  # fmt: skip


def train(predictor: str, args: argparse.Namespace) -> tuple[NextFramePredictor, StochasticMovingMNISTDataModule, float]:
    L.seed_everything(args.seed)
    dm = data_module(args)
    model = NextFramePredictor(
        predictor=predictor, context_frames=args.context, g_dim=args.g_dim, z_dim=args.z_dim, rnn_size=args.rnn_size,
        width=args.width, beta=args.beta, warp_shift=args.warp_shift, num_samples=args.samples,
        image_size=args.image_size, in_chans=1,
    )  # fmt: skip
    trainer = L.Trainer(
        accelerator="cpu", devices=1, max_steps=args.steps, limit_val_batches=0, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[Progress()],
    )  # fmt: skip
    start = time.time()
    trainer.fit(model, dm)
    return model, dm, time.time() - start


@torch.no_grad()
def score_test_set(dm: StochasticMovingMNISTDataModule, context: int, predict: Any) -> dict[str, list[float]]:
    """Test-set metrics per frame index (weighted by clips) of `predict(frames, batch_index)` -> (N, B, T, C, H, W)."""
    totals: dict[str, torch.Tensor] = {}
    count = 0
    for i, (clips, _) in enumerate(dm.test_dataloader()):
        frames = clips.float() / 255
        for key, value in summarize_samples(predict(frames, i), frames[:, context:]).items():
            totals[key] = totals.get(key, 0) + value * len(clips)
        count += len(clips)
    return {key: (value / count).reshape(-1).tolist() for key, value in totals.items()}


def evaluate(model: NextFramePredictor, dm: StochasticMovingMNISTDataModule, samples: int) -> dict[str, list[float]]:
    """Test-set metrics of `samples` futures per clip, and the first batch's samples for the figure."""
    model.eval()
    c = model.hparams.context_frames

    def predict(frames: torch.Tensor, i: int) -> torch.Tensor:
        out = model.sample_futures(frames, samples, seed=i)
        if i == 0:
            model.first_samples = (frames[:, c:], out)  # type: ignore[attr-defined]
        return out

    return score_test_set(dm, c, predict)


def trivial_baselines(args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    """The same metrics for two predictors that learn nothing, on the same test clips: the last observed frame
    repeated, and a blank frame. SSIM counts the black background as matched, so a blank frame scores about 0.66
    on two digits; a model's SSIM means something only above these rows."""
    dm = data_module(args)
    dm.setup("test")
    c = args.context
    copy = lambda frames, i: frames[:, c - 1 : c].expand_as(frames[:, c:])[None]  # noqa: E731  one "sample"
    blank = lambda frames, i: torch.zeros_like(frames[:, c:])[None]  # noqa: E731
    return {name: score_test_set(dm, c, fn) for name, fn in zip(TRIVIAL, (copy, blank), strict=True)}


def table(results: dict[str, dict], args: argparse.Namespace) -> str:
    head = ("| predictor | best-of-N SSIM | best-of-N PSNR | mean SSIM | mean PSNR | sharpness ratio | gradient-energy ratio "
            "| grad-diff sharpness (dB) | diversity | train s |")
    lines = [head, "|" + " --- |" * 10]
    for name, r in results.items():
        m = {k: sum(r[k]) / len(r[k]) for k in COLUMNS}
        lines.append(
            f"| {name} | {m['ssim']:.4f} | {m['psnr']:.2f} | {m['ssim_mean']:.4f} | {m['psnr_mean']:.2f} | "
            f"{m['sharpness_ratio']:.3f} | {m['gradient_energy_ratio']:.3f} | {m['grad_diff_sharpness']:.2f} | {m['diversity']:.4f} | "
            + (f"{r['train_s']:.0f} |" if "train_s" in r else "- |")
        )
    frames = range(args.context + 1, args.context + args.future + 1)
    header = ["| predictor | " + " | ".join(f"t{t}" for t in frames) + " |", "|" + " --- |" * (args.future + 1)]
    for key, title in (("ssim", "Best-of-N SSIM"), ("sharpness_ratio", "Sharpness ratio"),
                       ("gradient_energy_ratio", "Gradient-energy ratio"), ("grad_diff_sharpness", "Grad-diff sharpness (dB)")):
        lines += ["", f"{title} per predicted frame index:", "", *header]
        lines += [f"| {name} | " + " | ".join(f"{v:.3f}" for v in r[key]) + " |" for name, r in results.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_moving_mnist_args(p)
    p.add_argument("--steps", type=int, default=600, help="optimizer steps per predictor (the shared budget)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--width", type=int, default=16, help="encoder width (paper: 64)")
    p.add_argument("--g-dim", type=int, default=64, help="frame embedding (paper: 128)")
    p.add_argument("--rnn-size", type=int, default=128, help="LSTM width (paper: 256)")
    p.add_argument("--z-dim", type=int, default=10)
    p.add_argument("--beta", type=float, default=1e-4)
    p.add_argument("--warp-shift", type=float, default=0.0,
                   help="> 0: the decoder also moves the last observed frame's pixels (at most this many per axis)")
    p.add_argument("--samples", type=int, default=100, help="N of best-of-N")
    p.add_argument("--test-clips", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tag", default="next_frame")
    p.add_argument("--predictors", nargs="+", default=list(PREDICTORS), choices=PREDICTORS,
                   help="predictors trained by this process; the table is written when every predictor's results exist "
                        "(run one process per predictor, same other arguments, to use two cores)")
    p.add_argument("--report-only", action="store_true",
                   help="only rewrite the table, JSON and grid from the saved results of both predictors")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    for predictor in [] if args.report_only else args.predictors:
        model, dm, seconds = train(predictor, args)
        result = {**evaluate(model, dm, args.samples), "train_s": seconds}
        truth, out = model.first_samples  # type: ignore[attr-defined]
        to_uint8 = lambda x: (x * 255).round().to(torch.uint8)  # noqa: E731
        torch.save({"args": vars(args), "results": result, "truth": to_uint8(truth[:3]), "samples": to_uint8(out[:5, :3])},
                   RESULTS / f"{args.tag}_{predictor}.pt")  # fmt: skip
        WEIGHTS.mkdir(exist_ok=True)
        torch.save(model.state_dict(), WEIGHTS / f"{args.tag}_{predictor}_weights.pt")
        print(predictor, {k: round(sum(v) / len(v), 4) for k, v in result.items() if k in COLUMNS}, flush=True)
    runs = {name: RESULTS / f"{args.tag}_{name}.pt" for name in PREDICTORS}
    missing = [str(path) for path in runs.values() if not path.is_file()]
    if not missing:
        defaults = vars(p.parse_args([]))  # options added after a run was saved: it ran with their defaults
        loaded = {name: torch.load(path) for name, path in runs.items()}
        report({name: {**run, "args": {**defaults, **run["args"]}} for name, run in loaded.items()}, args)
    elif args.report_only:
        raise SystemExit(f"--report-only needs both predictors' results; missing: {', '.join(missing)}")


def report(runs: dict[str, dict], args: argparse.Namespace) -> None:
    """Write the Markdown table, the JSON results and the sample grid of both predictors."""
    settings = {k: v for k, v in vars(args).items() if k not in ("predictors", "threads", "report_only")}
    if any({k: v for k, v in run["args"].items() if k in settings} != settings for run in runs.values()):
        raise ValueError("the predictors' results were made with different arguments: rerun with the same budget")
    results = {**{p: run["results"] for p, run in runs.items()}, **trivial_baselines(args)}
    truth, det, lat = runs["latent"]["truth"], runs["deterministic"]["samples"], runs["latent"]["samples"]
    rows = []
    for i in range(truth.shape[0]):  # per clip: true future, deterministic prediction, latent samples
        rows += [truth[i], det[0, i]] + [s[i] for s in lat]
    save_image(torch.cat(rows).float() / 255, RESULTS / f"{args.tag}_samples.png", nrow=args.future, pad_value=0.5)
    text = table(results, args)
    command = "python -m benchmarks.video next-frame " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in settings.items())
    (RESULTS / f"{args.tag}.md").write_text(
        f"# Next-frame prediction: deterministic vs latent (SVG-LP)\n\n`{command}`\n\n"
        "Rows of the sample grid, per test clip: true future, deterministic prediction, 5 latent samples.\n\n"
        f"{text}\n"
    )
    (RESULTS / f"{args.tag}.json").write_text(json.dumps({"args": settings, "results": results}, indent=1))
    print(text)


if __name__ == "__main__":
    main()
