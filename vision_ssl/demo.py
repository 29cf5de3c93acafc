"""The main job (`make demo`): pretrain SimCLR from a config, then compare the linear probe of the pretrained
encoder with the same encoder at its random initial weights, on the held-out validation split.

    python -m vision_ssl.demo --config configs/demo.yaml [extra `vision-ssl fit` arguments]
"""

from __future__ import annotations

import argparse
import time

import torch

from vision_ssl.cli import build_cli
from vision_ssl.eval import linear_probe
from vision_ssl.eval.features import init_kwargs
from vision_ssl.utils.callbacks import Throughput


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/demo.yaml")
    parser.add_argument("--probe-epochs", type=int, default=100)
    args, extra = parser.parse_known_args(argv)

    start = time.perf_counter()
    cli = build_cli(["--config", args.config, *extra], run=False)
    model, dm, trainer = cli.model, cli.datamodule, cli.trainer
    random_twin = type(model)(**init_kwargs(model.hparams))
    random_twin.load_state_dict(model.state_dict())  # the weights pretraining starts from
    meter = Throughput()
    # Lightning sets `Trainer.callbacks` in its CallbackConnector without declaring it on `Trainer`.
    trainer.callbacks.append(meter)  # type: ignore[attr-defined]
    trainer.fit(model, dm)
    fit_seconds = time.perf_counter() - start

    model.cpu()
    pre = linear_probe(model, dm, epochs=args.probe_epochs)
    rnd = linear_probe(random_twin, dm, epochs=args.probe_epochs)
    total = time.perf_counter() - start
    ips = meter.images / max(meter.seconds, 1e-9)
    log_dir = trainer.logger.log_dir if trainer.logger else "runs"
    print()
    print(f"Validation linear-probe top-1 on {type(dm).__name__} ({pre['num_val']} held-out images):")
    print(f"  SimCLR-pretrained encoder : {pre['val_top1']:.4f}  (probe lr {pre['lr']:g})")
    print(f"  same encoder, random init : {rnd['val_top1']:.4f}  (probe lr {rnd['lr']:g})")
    print(f"Pretraining: {trainer.current_epoch} epochs, {meter.images} images in {meter.seconds:.0f}s "
          f"({ips:.0f} images/s, {torch.get_num_threads()} threads); fit {fit_seconds:.0f}s, total {total:.0f}s")
    print(f"Checkpoints and logs: {log_dir}")
    print(f"TensorBoard: .venv/bin/tensorboard --logdir {trainer.logger.save_dir if trainer.logger else 'runs'}")
    return {"pretrained": pre["val_top1"], "random": rnd["val_top1"], "images_per_s": ips, "seconds": total}


if __name__ == "__main__":
    main()
