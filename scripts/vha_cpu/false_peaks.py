"""Where a bundled VHA's spurious peaks are, on held-out full-HD frame 0 (seed 10000): every output peak of
``CoarseVHA.reconstruct`` is "own" (a target peak of its joint type within 2 voxels), "other-joint" (a target peak of
another joint type within 2 voxels) or "far" (no target peak within 2 voxels), with the far ones' Chebyshev distance
to the nearest target peak and how many of them lie at the frame's border (within 2 voxels of it) or in the volume's
first or last 8 depth bins.

    python scripts/vha_cpu/false_peaks.py [NAME ...]      # names in loco/weights/coarse_cpu (default vha1 vha2)
"""

import sys

import numpy as np
import torch

from loco.training.coarse import load_coarse
from loco.training.vha import _peak_rows, heldout_volumes

torch.set_num_threads(2)
# frame 0 of the Table 2 frames (loco.training.windows.evaluate_coarse), rendered once for every name
vol = next(heldout_volumes(1))
g = _peak_rows(vol)[0].astype(np.int64)
for name in sys.argv[1:] or ("vha1", "vha2"):
    m = load_coarse(f"loco/weights/coarse_cpu/{name}.safetensors").eval()
    m.hidden_slope = m.output_slope = 0.0
    cov = m.P * m.S
    with torch.no_grad():
        rec = m.reconstruct(vol[:, :, :cov])
    p = _peak_rows(rec)[0].astype(np.int64)
    own = other = far = 0
    depths_far, bins_far, edge_far = [], [], 0
    hh, ww = rec.shape[-2:]
    for r in p:
        d = np.abs(g[:, 1:] - r[1:]).max(1)
        if ((d <= 2) & (g[:, 0] == r[0])).any():
            own += 1
        elif (d <= 2).any():
            other += 1
        else:
            far += 1
            bins_far.append(int(r[1]))
            depths_far.append(d.min())
            edge_far += int(min(r[2], hh - 1 - r[2], r[3], ww - 1 - r[3]) <= 2 or r[1] < 8 or r[1] >= cov - 8)
    df = np.array(depths_far) if depths_far else np.zeros(1)
    bf = np.array(bins_far) if bins_far else np.zeros(1)
    print(
        f"{name}: {len(g)} target peaks, {len(p)} output peaks: {own} own, {other} other-joint, {far} far "
        f"(median distance {np.median(df):.0f} voxels, {100 * (df > 10).mean():.1f} % beyond 10; {edge_far} at the "
        f"frame's border or the volume's first/last 8 bins; depth bins of the "
        f"far ones: quartiles {np.percentile(bf, [25, 50, 75]).round().tolist()}, targets' "
        f"{np.percentile(g[:, 1], [25, 50, 75]).round().tolist()})"
    )
