"""Train a VHA v2 for a few steps on heatmaps rendered on the fly, resume it, and score it (paper Table 2 style).

    python examples/train_tiny_vha.py            # about a minute on a laptop CPU
    python examples/train_tiny_vha.py --steps 2000 --crop 32,32 --out runs/vha2_example

The same run from the command line: ``loco train vha --version 2 --steps 40 --crop 16,16 --out runs/tiny_vha``;
``loco train vha --resume runs/tiny_vha --steps 80`` continues it.
"""

from __future__ import annotations

import argparse
import json

import torch

from loco.training import VHAConfig
from loco.training.vha import evaluate_vha, train_vha


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/tiny_vha")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--crop", default="16,16", help="crop h,w in voxels")
    parser.add_argument("--eval-frames", type=int, default=1, help="full held-out frames for the F1 at 0/1/2 voxels")
    args = parser.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))

    crop = tuple(int(x) for x in args.crop.split(","))
    config = VHAConfig(
        out=args.out,
        version=2,
        steps=args.steps,
        crop=crop,
        lr=5e-4,
        warmup=10,
        fg_weight=4.0,
        val_frames=2,
        val_every=0,
        log_every=10,
        ckpt_minutes=1,
        progress=True,
    )
    # Half the steps, then a resume from the checkpoint for the rest: the result equals one uninterrupted run
    # (exactly, with deterministic=True).
    train_vha(config, stop_at=args.steps // 2)
    trainer = train_vha(config, resume=args.out)
    print("last validation:", json.dumps([h for h in trainer.history if "val" in h][-1]["val"]))
    if args.eval_frames:
        scores = evaluate_vha(trainer.model, args.eval_frames, progress=True)
        print("held-out full frames:", json.dumps(scores))
    trainer.model.save_pretrained(f"{args.out}/model", metadata={"trained_steps": trainer.state.step})
    print(f"weights -> {args.out}/model")


if __name__ == "__main__":
    main()
