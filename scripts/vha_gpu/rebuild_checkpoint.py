"""A ``last.pt`` for a run whose lease returned only ``coarse.safetensors`` and ``log.jsonl`` (8 files come back from
a device call), so ``scripts/vha_cpu/bundle_windows.py`` can bundle it:

    python scripts/vha_gpu/rebuild_checkpoint.py RUN STEPS BATCH LR SEED WINDOWS_PER_FRAME

The config is the one ``train.py`` gave the run (its ``command`` parsed by ``loco.cli``, ``--steps STEPS``), the
model the returned weights, ``elapsed_s`` the log's last figure scaled to ``STEPS``. The Adam state did not come back:
the optimiser in the file is fresh and ``extra["rebuilt"]`` says so, so ``--resume`` from it is no bit-for-bit resume.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from train import command  # noqa: E402

from loco.cli import build_parser  # noqa: E402
from loco.commands.train import config_from_args  # noqa: E402
from loco.training.coarse import load_coarse  # noqa: E402
from loco.training.trainer import TrainState, save_checkpoint  # noqa: E402


def main() -> None:
    run = Path(sys.argv[1])
    steps, batch, lr, seed, per_frame = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), *map(int, sys.argv[5:7])
    argv = command(run, steps, batch, lr, seed, ["--windows-per-frame", str(per_frame)], 2)[3:]  # after "-m loco.cli"
    config = config_from_args(build_parser().parse_args(argv))
    model = load_coarse(run / "coarse.safetensors")
    logs = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    timed = [r for r in logs if "elapsed_s" in r]
    elapsed = timed[-1]["elapsed_s"] * steps / timed[-1]["step"]
    save_checkpoint(
        run / "last.pt",
        model=model,
        optimizer=torch.optim.Adam(model.parameters()),
        config=config,
        state=TrainState(step=steps, elapsed_s=elapsed),
        extra={"rebuilt": "from coarse.safetensors and log.jsonl after a GPU lease; the Adam state was not returned"},
    )
    print(f"{run / 'last.pt'}: step {steps}, {elapsed:.0f} s, config {config.device}, batch {config.batch_size}")


if __name__ == "__main__":
    main()
