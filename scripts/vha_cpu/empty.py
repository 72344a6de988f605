"""CoarseVHAs on all-zero volumes of several grids: the output there is the network's biases alone, and any peak above
the 0.1 threshold is a false detection on every frame without people (held-out frame 28 of Table 2's 32 is one).

    python scripts/vha_cpu/empty.py CKPT [CKPT ...] [--grids 135x240,136x240,68x120,34x60,133x238] [--threads 2]

CKPT as in table2.py. The grids differ by their size modulo the v2 stride (4) at the bottom and right borders, where
the biases' output differs: full HD is 135 x 240 (3 and 0 modulo 4), the pipeline's 34 x 60 (2 and 0), a 540 x 960
frame 68 x 120 (0 and 0, the grid of ``tests/test_bundled.py``'s check). Prints, per network and grid, the output
maximum, the number of peaks above 0.1 and the strongest local maxima above 0.05 as (joint, bin, row, column).
"""

import argparse

import torch

from loco import ops
from loco.training.coarse import load_coarse

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("ckpts", nargs="+")
p.add_argument("--grids", default="135x240,136x240,68x120,34x60,133x238")
p.add_argument("--threads", type=int, default=2)
args = p.parse_args()
torch.set_num_threads(args.threads)
grids = [tuple(int(x) for x in g.split("x")) for g in args.grids.split(",")]
for name in args.ckpts:
    m = load_coarse(name).eval()
    for h, w in grids:
        with torch.no_grad():
            out = m.reconstruct(torch.zeros(1, m.joints, m.P * m.S, h, w)).float().contiguous()
        above = ops.find_peaks(out, threshold=0.1)
        weak = ops.find_peaks(out, threshold=0.05)
        top = weak.score.argsort(descending=True)[:4] if len(weak.joint) else []
        where = [(int(weak.joint[i]), *(int(x) for x in weak.index[i])) for i in top]
        top_value = float(out.max())
        print(f"{name} {h}x{w}: max {top_value:.3f}, {len(above.joint)} peaks above 0.1; strongest {where}", flush=True)
