"""Paper Table 2 for a CoarseVHA (a run folder, a ``coarse.safetensors`` file or a name in loco/weights/coarse_cpu):
F1 (precision, recall) at 0/1/2 voxels on full held-out frames (seed 10000), at 1080x1920 and at 270x480.

    python scripts/vha_cpu/table2.py CKPT [FRAMES_FULL_HD=16] [FRAMES_SMALL=64] [SEED=10000] > metrics.json

SEED 50000 gives frames that no training run or model choice has seen (seed 10000 held the validation frames too).

Same frames and protocol as :func:`loco.training.vha.evaluate_vha` (which runs the exported VHA), through
:meth:`CoarseVHA.reconstruct`, the same function with 3-D convolutions (15x cheaper on a full-HD frame).
"""

import json
import sys
import time

import torch

from loco.training.coarse import load_coarse
from loco.training.report import EVAL_SEED
from loco.training.windows import evaluate_coarse

torch.set_num_threads(2)
full_n = int(sys.argv[2]) if len(sys.argv) > 2 else 16
small_n = int(sys.argv[3]) if len(sys.argv) > 3 else 64
seed = int(sys.argv[4]) if len(sys.argv) > 4 else EVAL_SEED
seed_arg = f" {seed}" if len(sys.argv) > 4 else ""
model = load_coarse(sys.argv[1]).eval()
out = {}
for key, size, n in (("table2_1080x1920", (1080, 1920), full_n), ("table2_270x480", (270, 480), small_n)):
    if n <= 0:
        continue
    t = time.perf_counter()
    r = evaluate_coarse(model, n, image_size=size, seed=seed)
    sec = round(time.perf_counter() - t)
    f1 = " / ".join(f"{r[f'f1@{k}']:.2f}" for k in (0, 1, 2))
    pr = " / ".join(f"{r[f'precision@{k}']:.2f}" for k in (0, 1, 2))
    rc = " / ".join(f"{r[f'recall@{k}']:.2f}" for k in (0, 1, 2))
    out[key] = (
        f"paper Table 2's protocol (peaks of H and of d(e(H)), threshold 0.1, matched per joint type within 0/1/2 "
        f"voxels) on {n} full held-out {size[0]}x{size[1]} frames (seed {seed}): F1 {f1} (precision {pr}, recall "
        f"{rc}); python scripts/vha_cpu/table2.py {sys.argv[1]} {full_n} {small_n}{seed_arg} ({sec} s)"
    )
    out[key + "_values"] = r
    print(key, f1, f"{sec}s", file=sys.stderr, flush=True)
print(json.dumps(out, indent=2))
