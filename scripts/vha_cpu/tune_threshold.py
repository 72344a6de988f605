"""Pick the bundled pipeline's peak threshold on validation frames (seed 20000: neither training, seed 0, nor the
reported evaluation, seed 10000): JTA-protocol F1 at 0.4/0.8/1.2 m of ``LoCO.from_pretrained("vha2")`` on FRAMES
synthetic 270x480 frames for each threshold.

    python scripts/vha_cpu/tune_threshold.py [FRAMES=16] [THRESHOLDS=0.05,0.1,0.15,0.2,0.3]
"""

import json
import sys
from dataclasses import replace

import torch

from loco.data.synthetic import SyntheticScenes
from loco.evaluate import evaluate_pipeline
from loco.geometry import VoxelGrid
from loco.pipeline import LoCO

torch.set_num_threads(2)
frames = int(sys.argv[1]) if len(sys.argv) > 1 else 16
thresholds = [float(t) for t in (sys.argv[2] if len(sys.argv) > 2 else "0.05,0.1,0.15,0.2,0.3").split(",")]
size = (270, 480)
grid = VoxelGrid.for_image(*size)
data = SyntheticScenes("jta", image_size=size, seed=20_000, length=frames, grid=grid)


pipe = LoCO.from_pretrained("vha2", device="cpu")
out = {}
for t in thresholds:
    pipe.settings = replace(pipe.settings, threshold=t)
    row = evaluate_pipeline(data, pipe, frames, grid=grid, progress=False)["rows"]["pipeline"]
    out[t] = {k: round(v, 2) for k, v in row.items() if k.startswith("f1")}
    print(t, out[t], flush=True)
print(json.dumps(out, indent=2))
