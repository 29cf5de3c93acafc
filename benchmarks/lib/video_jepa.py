"""Video JEPA on Stochastic Moving MNIST: latent-variable vs deterministic predictor, same budget, probed per horizon.

Trains the two VideoJEPA predictors (and, for the encoder comparison, a small SVG-LP pixel predictor) on 32x32
two-digit clips, then, with every network frozen:

- Digit location and identity from rolled-out representations. Linear probes are fitted on the embeddings of
  true frames of training clips: location = which cells of a G x G grid hold a digit's centre (multi-label), identity =
  which digits are in the clip (multi-label). They are scored by average precision (AP over every cell/class and
  frame, micro-averaged) at each horizon k after the 5 context frames, on embeddings the predictor generated from
  the context alone. Rows: the latent predictor with z at the prior mean, one prior sample, and the best of N prior
  samples by energy against the true future embeddings (SVG's best-of-N: an oracle choice of z); the
  deterministic predictor; copying the last context embedding; the true frame's embedding (the probe's ceiling);
  the random twin's rollout. The location AP follows EB-JEPA's idea (digit location read from rolled-out
  representations) on our own grid, not its exact protocol: the numbers are not comparable one to one.
- Linear probe on MNIST digits of the frame encoders (one digit at a random position in a blank frame, MNIST
  training digits minus a held-out tenth for training, that tenth for model selection, MNIST test digits for
  the reported number): JEPA latent, JEPA deterministic, the pixel predictor's encoder, random encoders.

Each trained model is saved under runs/ (git-ignored) and reused when the script is run again (resumable).

    python -m benchmarks.video jepa                 # CPU defaults, see --help
    python -m benchmarks.video jepa --real-video    # vtest.avi nearest neighbours (lib/video_jepa_real.py)
"""

from __future__ import annotations

import argparse
import json
import time

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import binary_average_precision

from benchmarks.lib.env import RESULTS, WEIGHTS
from benchmarks.lib.video_progress import Progress, add_moving_mnist_args
from vision_ssl.data.moving_mnist import StochasticMovingMNIST, StochasticMovingMNISTDataModule
from vision_ssl.eval.linear_probe import probe_features
from vision_ssl.methods.next_frame import NextFramePredictor
from vision_ssl.methods.video_jepa import VideoJEPA


def data(args: argparse.Namespace, steps: int, batch_size: int) -> StochasticMovingMNISTDataModule:
    dm = StochasticMovingMNISTDataModule(
        root=args.root, image_size=args.image_size, num_digits=args.digits, context_frames=args.context,
        future_frames=args.future, train_clips=max(steps * batch_size, args.probe_clips), test_clips=args.test_clips,
        batch_size=batch_size, num_workers=0, seed=args.seed,
    )  # fmt: skip
    dm.setup()
    return dm


def build(name: str, args: argparse.Namespace) -> L.LightningModule:
    L.seed_everything(args.seed)
    if name == "pixel":
        return NextFramePredictor(predictor="latent", context_frames=args.context, g_dim=64, z_dim=10, rnn_size=128,
                                  width=16, image_size=args.image_size, in_chans=1)  # lib/next_frame.py's
    return VideoJEPA(predictor=name, dim=args.dim, width=args.width, hidden=args.hidden, z_dim=args.z_dim,
                     beta=args.beta, context_frames=args.context, image_size=args.image_size, in_chans=1)


def train(name: str, args: argparse.Namespace) -> tuple[L.LightningModule, dict]:
    """Train (or load the saved weights of) one model; returns it and {steps, train_s}."""
    path = WEIGHTS / f"{args.tag}_{name}.pt"
    model = build(name, args)
    if path.is_file():
        saved = torch.load(path)
        model.load_state_dict(saved["state_dict"])
        return model.eval(), saved["info"]
    steps, batch = (args.pixel_steps, 16) if name == "pixel" else (args.steps, args.batch_size)
    trainer = L.Trainer(
        accelerator="cpu", devices=1, max_steps=steps, max_time={"minutes": args.max_minutes}, limit_val_batches=0,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[Progress(name)],
    )  # fmt: skip
    start = time.time()
    trainer.fit(model, data(args, steps, batch))
    info = {"steps": trainer.global_step, "batch_size": batch, "train_s": round(time.time() - start, 1)}
    WEIGHTS.mkdir(exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "info": info}, path)
    return model.eval(), info


def targets(ds: StochasticMovingMNIST, n: int, grid: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clips (n, T, 1, S, S) in [0, 1], centre-cell occupancy (n, T, grid^2) and digit multi-hot (n, 10)."""
    clips, cells, ids = [], [], []
    for i in range(n):
        clip, labels = ds[i]
        cell = (ds.centres(i) * grid / ds.size).long().clamp(0, grid - 1)  # (K, T, 2)
        occ = torch.zeros(ds.frames, grid * grid)
        occ.scatter_(1, (cell[..., 0] * grid + cell[..., 1]).T, 1.0)  # (T, K) cell indices
        clips.append(clip.float() / 255)
        cells.append(occ)
        ids.append(torch.zeros(10).scatter_(0, labels, 1.0))
    return torch.stack(clips), torch.stack(cells), torch.stack(ids)


def fit_probe(x: torch.Tensor, y: torch.Tensor, iters: int = 500) -> tuple[torch.nn.Linear, torch.Tensor, torch.Tensor]:
    """Multi-label linear probe (BCE, Adam, full batch) on standardised features (N, D) -> (N, C)."""
    torch.manual_seed(0)
    mu, sd = x.mean(0), x.std(0) + 1e-6
    probe = torch.nn.Linear(x.shape[1], y.shape[1])
    opt = torch.optim.Adam(probe.parameters(), lr=1e-2)
    for _ in range(iters):
        loss = F.binary_cross_entropy_with_logits(probe((x - mu) / sd), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return probe, mu, sd


@torch.no_grad()
def rollout_table(models: dict[str, VideoJEPA], args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    """Location and identity AP per horizon of every rollout row."""
    dm = data(args, 1, args.batch_size)
    fit_clips, fit_cells, fit_ids = targets(dm.sets["train"], args.probe_clips, args.grid)
    test_clips, test_cells, test_ids = targets(dm.sets["test"], args.test_clips, args.grid)
    c, f = args.context, args.future
    rows: dict[str, dict[str, list[float]]] = {}
    for name, model in models.items():
        s_fit, s = model.encode(fit_clips), model.encode(test_clips)  # (n, T, D)
        with torch.enable_grad():
            loc = fit_probe(s_fit.flatten(0, 1), fit_cells.flatten(0, 1))
            ident = fit_probe(s_fit.flatten(0, 1), fit_ids.repeat_interleave(s_fit.shape[1], 0))
        future = s[:, c:]
        preds = {"rollout (z at prior mean)" if model.latent else "rollout": model.generate(s[:, :c], f)}
        if model.latent:
            noise = torch.randn(len(s), f, model.hparams.z_dim, generator=torch.Generator().manual_seed(1))
            preds["rollout (one prior sample of z)"] = model.generate(s[:, :c], f, noise)
            preds[f"rollout (best of {args.samples} z)"] = model.best_of_n(s[:, :c], future, args.samples, seed=2)
        preds["copy last context frame"] = s[:, c - 1 : c].expand(-1, f, -1)
        preds["true future frame (probe ceiling)"] = future
        for row, pred in preds.items():
            rows[f"{name}: {row}"] = {"location_ap": [], "identity_ap": []}
            for k in range(f):
                probe, mu, sd = loc
                logits = probe((pred[:, k] - mu) / sd)
                rows[f"{name}: {row}"]["location_ap"].append(
                    float(binary_average_precision(logits.flatten(), test_cells[:, c + k].flatten().long())))
                probe, mu, sd = ident
                logits = probe((pred[:, k] - mu) / sd)
                rows[f"{name}: {row}"]["identity_ap"].append(
                    float(binary_average_precision(logits.flatten(), test_ids.flatten().long())))
    return rows


@torch.no_grad()
def mnist_probe(encoders: dict[str, L.LightningModule], args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Linear-probe top-1 on single MNIST digits at random positions in blank frames, per encoder."""
    dm = data(args, 1, args.batch_size)
    sizes = {"train": 5000, "val": 1000, "test": 2000}
    sets = {split: StochasticMovingMNIST(torch.from_numpy(dm.sets[split].digits), dm.sets[split].labels, n, 1,
                                         args.image_size, 1, dm.max_speed, 1, args.seed, split)
            for split, n in sizes.items()}  # fmt: skip
    frames = {split: torch.stack([ds[i][0][0] for i in range(len(ds))]).float() / 255 for split, ds in sets.items()}
    labels = {split: torch.stack([ds[i][1][0] for i in range(len(ds))]) for split, ds in sets.items()}
    out = {}
    for name, enc in encoders.items():
        feats = {split: (enc(x), labels[split]) for split, x in frames.items()}
        with torch.enable_grad():
            r = probe_features(feats, 10, lrs=(1e-3, 3e-3, 1e-2), epochs=100)
        out[name] = {"val_top1": r["val_top1"], "test_top1": r["test_top1"]}
        print(f"  MNIST probe {name}: {out[name]}", flush=True)
    return out


def report(result: dict, args: argparse.Namespace, command: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    horizons = list(range(1, args.future + 1))
    lines = ["# Video JEPA on Stochastic Moving MNIST: latent vs deterministic predictor", "", f"`{command}`", "",
             "Training: " + ", ".join(f"{k} {v['steps']} steps x {v['batch_size']} clips in {v['train_s']:.0f} s"
                                      for k, v in result["train"].items()) + ".", ""]  # fmt: skip
    for key, title in (("location_ap", "Digit-location AP"), ("identity_ap", "Digit-identity AP")):
        lines += [f"{title} per horizon (frames after the {args.context} context frames; {args.test_clips} test clips, "
                  f"location on a {args.grid}x{args.grid} grid of digit centres):", "",
                  "| representation | " + " | ".join(f"k={k}" for k in horizons) + " | mean |",
                  "|" + " --- |" * (args.future + 2)]  # fmt: skip
        for row, r in result["rollouts"].items():
            lines.append(f"| {row} | " + " | ".join(f"{v:.3f}" for v in r[key]) + f" | {sum(r[key]) / len(r[key]):.3f} |")
        lines.append("")
    lines += ["Linear probe on MNIST digits (one digit at a random position in a blank frame; top-1):", "",
              "| encoder | val top-1 | test top-1 |", "| --- | --- | --- |"]
    lines += [f"| {k} | {v['val_top1']:.4f} | {v['test_top1']:.4f} |" for k, v in result["mnist_probe"].items()]
    (RESULTS / f"{args.tag}.md").write_text("\n".join(lines) + "\n")
    (RESULTS / f"{args.tag}.json").write_text(json.dumps({"command": command, **result}, indent=1))
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    for ax, key in zip(axes, ("location_ap", "identity_ap"), strict=True):
        for row, r in result["rollouts"].items():
            ax.plot(horizons, r[key], marker="o", label=row, linestyle="--" if "copy" in row or "true" in row else "-")
        ax.set(xlabel="horizon k", ylabel=key.replace("_", " "), title=key.replace("_", " ") + " of rolled-out embeddings")
    axes[1].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(RESULTS / f"{args.tag}.png", dpi=120)
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_moving_mnist_args(p)
    p.add_argument("--steps", type=int, default=6000, help="optimizer steps of each JEPA (the shared budget)")
    p.add_argument("--pixel-steps", type=int, default=2000, help="steps of the pixel predictor (batch 16)")
    p.add_argument("--max-minutes", type=float, default=20.0, help="wall-clock cap of each training run")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--z-dim", type=int, default=4)
    p.add_argument("--beta", type=float, default=1.0)
    p.add_argument("--samples", type=int, default=20, help="N of best-of-N over z")
    p.add_argument("--grid", type=int, default=8, help="location grid side")
    p.add_argument("--probe-clips", type=int, default=1024, help="training clips of the frozen probes")
    p.add_argument("--test-clips", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tag", default="video_jepa_moving_mnist")
    p.add_argument("--real-video", action="store_true", help="only the vtest.avi nearest-neighbour check")
    p.add_argument("--video-root", default="data/videos")
    p.add_argument("--video-steps", type=int, default=1500)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.real_video:
        from benchmarks.lib.video_jepa_real import real_video

        real_video(args)
        return
    trained, info = {}, {}
    for name in ("latent", "deterministic", "pixel"):
        trained[name], info[name] = train(name, args)
        print(name, info[name], flush=True)
    random_twin = build("latent", args).eval()
    rollouts = rollout_table({"latent": trained["latent"], "deterministic": trained["deterministic"],
                              "random twin": random_twin}, args)  # fmt: skip
    random_pixel = build("pixel", args).eval()
    encoders = {"JEPA latent": trained["latent"], "JEPA deterministic": trained["deterministic"],
                "pixel predictor (SVG-LP)": trained["pixel"], "random JEPA encoder": random_twin,
                "random pixel-predictor encoder": random_pixel}  # fmt: skip
    result = {"args": vars(args), "train": info, "rollouts": rollouts, "mnist_probe": mnist_probe(encoders, args)}
    command = "python -m benchmarks.video jepa " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "threads")
    report(result, args, command)


if __name__ == "__main__":
    main()
