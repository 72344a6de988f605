"""Continue the bundled ``vha2`` CoarseVHA with the windows recipe on a CUDA device, sized to a wall-clock budget.

``python scripts/vha_gpu/train.py NAME BUDGET_S BATCH LR SEED OUT_DIR [extra ``loco train vha`` args]``

A device lease is short and its speed unknown beforehand, while the recipe's cosine schedule needs the step count up
front: a 40-step probe (same batch, device and data) measures steps/s, then the run gets ``steps = rate * (budget -
probe - margin)``. The recipe is the CPU stages' (``scripts/vha_cpu/README.md``) with a larger batch. Writes
``OUT_DIR/NAME/`` (``log.jsonl``, ``config.json``, ``coarse.safetensors``, ``last.pt``) and prints one line per phase.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

INIT = os.environ.get("INIT", "loco/weights/coarse_cpu/vha2.safetensors")  # INIT=path overrides


def command(out: Path, steps: int, batch: int, lr: float, seed: int, extra: list[str], val: int) -> list[str]:
    return [
        sys.executable, "-m", "loco.cli", "train", "vha", "--recipe", "windows",
        "--device", os.environ.get("DEVICE", "cuda"),
        "--batch-size", str(batch), "--warmup", "50", "--leaky-output", "0.01", "--val-frames", str(val),
        "--val-every", "0", "--ckpt-minutes", "1", "--no-progress", "--log-every", "10", "--fp16", "--version", "2",
        "--init", INIT, "--steps", str(steps), "--crop", "48,48", "--window-depth", "20", "--lr", str(lr),
        "--fuser-lr-scale", "10", "--decay-from", "0.2", "--leaky-code", "0", "--person-crop", "0.7",
        "--seed", str(seed), "--out", str(out), *extra,
    ]  # fmt: skip


def main() -> int:
    name, budget, batch, lr, seed, root = sys.argv[1:7]
    extra = sys.argv[7:]
    budget, batch, lr, seed, root = float(budget), int(batch), float(lr), int(seed), Path(root)
    t0 = time.monotonic()
    probe = root / f"{name}_probe"
    subprocess.run(command(probe, 40, batch, lr, seed, extra, 0), check=True, stdout=subprocess.DEVNULL)
    logs = [json.loads(x) for x in (probe / "log.jsonl").read_text().splitlines()]
    # steps 10..40 (the first 10 hold the compiles), frames made on the way included; 10 % margin
    elapsed = {r["step"]: r["elapsed_s"] for r in logs if "elapsed_s" in r}
    rate = 0.9 * 30 / max(1e-3, elapsed[40] - elapsed[10])
    spent = time.monotonic() - t0
    steps = max(50, int(rate * (budget - spent - 45)))  # 45 s: start-up, final checkpoint, export, validation
    print(f"[{name}] probe {rate:.2f} steps/s (batch {batch}), {spent:.0f} s; running {steps} steps", flush=True)
    run = subprocess.run(command(root / name, steps, batch, lr, seed, extra, 2), stdout=subprocess.DEVNULL)
    last = [json.loads(x) for x in (root / name / "log.jsonl").read_text().splitlines()]
    val = [r["val"] for r in last if "val" in r]
    print(f"[{name}] rc {run.returncode}, {time.monotonic() - t0:.0f} s, last {last[-1]}, val {val[-1:] or None}")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
