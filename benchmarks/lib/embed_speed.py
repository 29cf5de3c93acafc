"""Throughput of `vision_ssl.embed` with the demo encoder (configs/demo.yaml's backbone, here at 64 px): images/s
from an in-memory uint8 tensor (resize skipped: already 64 px) and from a folder of PNG files (decode included).

    python -m benchmarks.speed embed --images 10000 --size 64   # benchmarks/results/embed_throughput.*

Weights are the untrained initialisation: the speed of a forward pass does not depend on them. Rates are the median
of `--repeats` full passes after one warm-up pass; the two inputs alternate. Fashion-MNIST images (gray, repeated to
RGB and resized to the side) when `data/` has them, random pixels otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

import torch
import yaml
from torchvision.io import write_png

import vision_ssl
from benchmarks.lib.env import REPO, RESULTS, environment, write_json
from vision_ssl.data.base import resize_uint8
from vision_ssl.pretrained import PretrainedEncoder


def demo_encoder(size: int) -> PretrainedEncoder:
    """configs/demo.yaml's backbone and normalisation, built for `size`-pixel RGB images."""
    cfg = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())["model"]["init_args"]
    model = vision_ssl.create_method("simclr", backbone=cfg["backbone"], backbone_kwargs=cfg["backbone_kwargs"],
                                     image_size=size, mean=cfg["mean"], std=cfg["std"])
    return PretrainedEncoder(model.backbone, model.normalize, size, 3, "demo backbone (untrained)")


def images(n: int, size: int, root: str) -> torch.Tensor:
    """n uint8 RGB images (n, 3, size, size)."""
    from vision_ssl.data import FashionMNISTDataModule

    try:
        dm = FashionMNISTDataModule(root=root, image_size=28, channels=1, num_workers=0, max_train_samples=n)
        dm.setup("fit")
        x = dm.train_set.dataset.images[torch.tensor(dm.train_set.indices)]
    except FileNotFoundError:
        x = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8)
    return resize_uint8(x, size).expand(-1, 3, -1, -1).contiguous()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=10_000)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    p.add_argument("--data", default=str(REPO / "data"))
    p.add_argument("--tag", default="", help="suffix of the result files")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    enc = demo_encoder(a.size)
    x = images(a.images, a.size, a.data)
    with tempfile.TemporaryDirectory() as tmp:
        for i, img in enumerate(x):
            write_png(img, f"{tmp}/{i:05d}.png")
        inputs: dict[str, Any] = {"uint8 tensor": x, "PNG folder": tmp}
        rates: dict[str, list[float]] = {k: [] for k in inputs}
        for r in range(a.repeats + 1):
            for kind, data in inputs.items():
                start = time.perf_counter()
                feats = vision_ssl.embed(enc, data, batch_size=a.batch_size, device="cpu", progress=False)
                if r:  # the first pass warms up
                    rates[kind].append(a.images / (time.perf_counter() - start))
    assert feats.shape == (a.images, enc.num_features)
    rows = [{"input": k, "img_per_s": round(statistics.median(v)), "range": [round(min(v)), round(max(v))]}
            for k, v in rates.items()]
    env = environment()
    out = {"images": a.images, "size": a.size, "batch_size": a.batch_size, "repeats": a.repeats,
           "encoder": "configs/demo.yaml backbone: tiny width 16, 64 features", "rows": rows, "environment": env}
    name = "embed_throughput" + (f"_{a.tag}" if a.tag else "")
    write_json(RESULTS / f"{name}.json", out)
    lines = [f"# `vision_ssl.embed` throughput: demo encoder, {a.images} images at {a.size} px", "",
             f"Command: `{env['command']}`", "",
             f"Machine: {env['gpu'] or 'CPU only'}; {env['cpu']}, {env['cpu_cores']} cores, torch threads "
             f"{env['torch_threads']}, load average {env['load_avg_1min']} at the end (shared machine). torch "
             f"{env['versions']['torch']}, torchvision {env['versions']['torchvision']}.", "",
             f"Encoder: configs/demo.yaml's backbone (tiny conv net, width 16, {enc.num_features} features) at {a.size} "
             f"px, batch {a.batch_size}, on the CPU. Median of {a.repeats} passes over all images after a warm-up.", "",
             "| input | images/s (range) |", "| --- | --- |"]
    lines += [f"| {r['input']} | {r['img_per_s']} ({r['range'][0]}-{r['range'][1]}) |" for r in rows]
    lines += ["", "The PNG folder adds decoding and (here unneeded) resizing in this process (`num_workers=0`); "
              "`num_workers` decodes in parallel processes where cores are free."]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
