"""The ``loco`` console script. Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported only when their command runs, so ``loco --help`` is fast."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("loco.commands.demo", "predict on a bundled example image, writing poses JSON and pictures"),
    "predict": ("loco.commands.predict", "predict 3D poses for images, a folder or a video"),
    "eval": ("loco.commands.evaluate", "evaluate a pipeline (or ground-truth heatmaps) on a dataset split"),
    "train": ("loco.commands.train", "train the VHA, the Code Predictor or the Pose Refiner"),
    "convert": ("loco.commands.convert", "convert the authors' .pth checkpoints to safetensors + config.json"),
    "data": ("loco.commands.data", "write synthetic samples to disk for inspection"),
}


def _available() -> dict[str, tuple[str, str]]:
    out = {}
    for name, (module, help_) in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            out[name] = (module, help_)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loco", description="Multi-person 3D human pose estimation from one RGB image (LoCO)."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module, help_) in _available().items():
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as exc:
        print(f"loco {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
