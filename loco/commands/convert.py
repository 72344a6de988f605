"""``loco convert``: the authors' ``.pth`` checkpoints to safetensors + ``config.json``."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="the authors' .pth (VHA, Code Predictor best.pth or refiner)")
    parser.add_argument("output", type=Path, help="folder to write model.safetensors and config.json to")
    parser.add_argument(
        "--kind",
        default="auto",
        choices=("auto", "vha", "code_predictor", "refiner"),
        help="checkpoint format (default: recognised from its keys)",
    )


def run(args: argparse.Namespace) -> int:
    from loco.models import load_original_checkpoint, save_pretrained

    model = load_original_checkpoint(args.checkpoint, kind=args.kind)
    n_params = sum(p.numel() for p in model.parameters())
    save_pretrained(model, args.output, metadata={"converted_from": args.checkpoint.name})
    print(f"{type(model).__name__} {model.config}: {n_params:,} parameters -> {args.output}")
    return 0
