"""Video JEPA on a real video (OpenCV's vtest.avi): a deterministic VideoJEPA trained on its clips, and the nearest
neighbours of its predicted embeddings among the true embeddings of the held-out frames. Run through
`python -m benchmarks.video jepa --real-video` (its arguments, weights under runs/ and results stem).
"""

from __future__ import annotations

import argparse
import json
import time

import lightning as L
import torch

from benchmarks.lib.env import RESULTS, WEIGHTS
from benchmarks.lib.video_progress import Progress
from vision_ssl.methods.video_jepa import VideoJEPA


@torch.no_grad()
def real_video(args: argparse.Namespace) -> None:
    """VideoJEPA (deterministic) on OpenCV's vtest.avi: nearest neighbours of predicted embeddings among the true
    embeddings of every held-out frame; writes `{tag}_vtest.{json,md,png}`."""
    from torchvision.utils import save_image

    from vision_ssl.data.video import VideoClipDataModule

    dm = VideoClipDataModule(root=args.video_root, image_size=args.image_size, channels=1, context_frames=args.context,
                             future_frames=4, frame_step=2, batch_size=args.batch_size)  # fmt: skip
    dm.setup()
    path = WEIGHTS / f"{args.tag}_vtest.pt"
    L.seed_everything(args.seed)
    model = VideoJEPA(predictor="deterministic", dim=args.dim, width=args.width, hidden=args.hidden,
                      context_frames=args.context, image_size=args.image_size, in_chans=1)  # fmt: skip
    if path.is_file():
        saved = torch.load(path)
        model.load_state_dict(saved["state_dict"])
        info = saved["info"]
    else:
        trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=args.video_steps, limit_val_batches=0, logger=False,
                            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                            callbacks=[Progress("vtest")])  # fmt: skip
        start = time.time()
        with torch.enable_grad():
            trainer.fit(model, dm)
        info = {"steps": trainer.global_step, "train_s": round(time.time() - start, 1), "train_clips": len(dm.sets["train"])}
        torch.save({"state_dict": model.state_dict(), "info": info}, path)
    model.eval()
    held_out = dm.sets["val"].videos[0].float() / 255  # (N, 1, S, S), every held-out frame in order
    bank = model(held_out)  # (N, D)
    c, frames, step = args.context, dm.frames, dm.hparams.frame_step
    starts = range(0, len(held_out) - (frames - 1) * step, step)
    result: dict[str, dict[str, list[float]]] = {"rollout": {}, "copy last context frame": {}}
    picks = []
    for start in starts:
        idx = torch.arange(start, start + frames * step, step)
        s = bank[idx][None]  # (1, T, D)
        pred = model.generate(s[:, :c], frames - c)[0]
        for row, emb in (("rollout", pred), ("copy last context frame", s[0, c - 1 : c].expand(frames - c, -1))):
            nearest = torch.cdist(emb, bank).argmin(1)  # (F,)
            for k, (n, t) in enumerate(zip(nearest.tolist(), idx[c:].tolist(), strict=True)):
                result[row].setdefault(f"k={k + 1}", []).append(abs(n - t))
        if len(picks) < 6:
            picks.append(torch.stack([held_out[idx[c - 1]], held_out[idx[-1]], held_out[torch.cdist(pred[-1:], bank).argmin()]]))
    table = {row: {k: {"exact": sum(d == 0 for d in v) / len(v), "mean_frame_distance": sum(v) / len(v)}
                   for k, v in r.items()} for row, r in result.items()}  # fmt: skip
    save_image(torch.cat(picks), RESULTS / f"{args.tag}_vtest.png", nrow=3, pad_value=0.5)
    lines = ["# Video JEPA on a real video (OpenCV vtest.avi): nearest neighbours of predicted embeddings", "",
             f"Deterministic VideoJEPA, {args.image_size}x{args.image_size} gray, every {step}nd frame, "
             f"{c} context + 4 predicted; trained {info}. Held-out: the last 20% of the video "
             f"({len(held_out)} frames). For every held-out clip, the predicted embedding at horizon k is matched "
             "to its nearest true embedding among all held-out frames; `exact` = the nearest is the true target "
             "frame, `distance` = |index of the nearest - index of the target| in frames.", "",
             "| representation | " + " | ".join(f"k={k} exact / distance" for k in range(1, frames - c + 1)) + " |",
             "|" + " --- |" * (frames - c + 1)]  # fmt: skip
    for row, r in table.items():
        lines.append(f"| {row} | " + " | ".join(f"{v['exact']:.2f} / {v['mean_frame_distance']:.1f}" for v in r.values()) + " |")
    lines += ["", f"`{args.tag}_vtest.png`, per row: last context frame, true frame at k=4, the held-out frame nearest "
              "to the predicted embedding at k=4."]
    (RESULTS / f"{args.tag}_vtest.md").write_text("\n".join(lines) + "\n")
    (RESULTS / f"{args.tag}_vtest.json").write_text(json.dumps({"info": info, "table": table}, indent=1))
    print("\n".join(lines))
