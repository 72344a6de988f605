"""Table 2 frame by frame for several CoarseVHAs, and their output on an empty volume: which frames make a difference
between two runs' means (the JTA protocol averages per-frame F1, so one frame of 32 weighs 3.1 points).

    python scripts/vha_cpu/perframe.py CKPT [CKPT ...] [--first 16] [--last 32] [--threads 1]

CKPT as in table2.py (a run folder, a coarse.safetensors file or a name in loco/weights/coarse_cpu). Prints, per
held-out full-HD frame (seed 10000), its target peak count and each network's F1@0 / F1@2 with precision and recall
at 2 voxels; then each network's output maximum and peak count on an all-zero volume of the frames' grid (316 x 135 x
240).
"""

import argparse

import torch

from loco import ops
from loco.metrics import DetectionMeter
from loco.training.coarse import load_coarse
from loco.training.vha import VOXEL_THRESHOLDS, _peak_rows, _summary, heldout_volumes

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("ckpts", nargs="+")
p.add_argument("--first", type=int, default=16)
p.add_argument("--last", type=int, default=32)
p.add_argument("--threads", type=int, default=1)
args = p.parse_args()
torch.set_num_threads(args.threads)
models = {name: load_coarse(name).eval() for name in args.ckpts}
with torch.no_grad():
    for i, vol in enumerate(heldout_volumes(args.last)):
        if i < args.first:
            continue
        gt = _peak_rows(vol)[0]
        row = []
        for name, m in models.items():
            meter = DetectionMeter(VOXEL_THRESHOLDS)
            meter.update(_peak_rows(m.reconstruct(vol[:, :, : m.P * m.S]))[0], gt)
            s = _summary(meter)
            row.append(f"{name} {s['f1@0']:.1f}/{s['f1@2']:.1f} P2 {s['precision@2']:.1f} R2 {s['recall@2']:.1f}")
        print(f"frame {i}: {len(gt)} peaks | " + " | ".join(row), flush=True)
    for name, m in models.items():
        rec = m.reconstruct(torch.zeros_like(vol[:, :, : m.P * m.S]))  # the held-out frames' grid
        peaks = ops.find_peaks(rec.float().contiguous(), threshold=0.1)
        print(f"{name} on an empty volume: output max {float(rec.max()):.3f}, {len(peaks.joint)} peaks above 0.1")
