"""Where a CoarseVHA loses the exact voxel: every target peak of the held-out Table 2 frames (seed 10000) against the
nearest output peak of its joint type, by depth band, by joint and by axis, with and without the fuser.

    python scripts/vha_cpu/localisation.py CKPT [FRAMES=4] [THREADS=1] [--bypass]

``--bypass`` also runs the network with the fuser and defuser skipped (meaningful for a per-joint path trained alone).

CKPT as in table2.py (a run folder, a coarse.safetensors file or a name in loco/weights/coarse_cpu).
"""

import sys

import numpy as np
import torch
from scipy.spatial import cKDTree

from loco.skeleton import JOINT_NAMES
from loco.training.coarse import load_coarse
from loco.training.vha import _peak_rows, heldout_volumes

args = [a for a in sys.argv[2:] if not a.startswith("--")]
frames = int(args[0]) if args else 4
torch.set_num_threads(int(args[1]) if len(args) > 1 else 1)
model = load_coarse(sys.argv[1]).eval()
BANDS = [(0, 30), (30, 60), (60, 100), (100, 160), (160, 316)]


def rows_for(bypass: bool) -> np.ndarray:
    """(joint, d, v, u, dd, dv, du, dist, nearest other target peak of any type, output peaks near it)"""
    model.bypass_fuser = bypass
    out = []
    with torch.no_grad():
        for vol in heldout_volumes(frames):
            rec = model.reconstruct(vol[:, :, : model.P * model.S])
            gt, pr = _peak_rows(vol)[0], _peak_rows(rec)[0]
            all_tree = cKDTree(gt[:, 1:])
            for jt in range(model.joints):
                g, p = gt[gt[:, 0] == jt, 1:], pr[pr[:, 0] == jt, 1:]
                if not len(g):
                    continue
                if len(p):
                    dist, k = cKDTree(p).query(g)
                    off = p[k] - g
                else:
                    dist, off = np.full(len(g), 99.0), np.zeros((len(g), 3))
                nn_other = all_tree.query(g, k=2)[0][:, 1]
                for gi, o, di, no in zip(g, off, dist, nn_other):
                    out.append((jt, *gi, *o, di, no))
    return np.array(out)


for bypass in [False, True][: 2 if "--bypass" in sys.argv else 1]:
    r = rows_for(bypass)
    print(f"== {'fuser bypassed' if bypass else 'through the code'}: {len(r)} target peaks on {frames} frames")
    exact, within1 = r[:, 7] == 0, r[:, 7] <= 1
    print(f"exact {100 * exact.mean():.1f} %, within 1 voxel {100 * within1.mean():.1f} %")
    for lo, hi in BANDS:
        m = (r[:, 1] >= lo) & (r[:, 1] < hi)
        if m.any():
            print(f"  depth bins {lo:3d}-{hi:3d}: {m.sum():5d} peaks, exact {100 * exact[m].mean():5.1f} %")
    for lo, hi in [(0, 2.5), (2.5, 4.5), (4.5, 8.5), (8.5, np.inf)]:
        m = (r[:, 8] >= lo) & (r[:, 8] < hi)
        if m.any():
            share = f"{m.sum():5d} peaks, exact {100 * exact[m].mean():5.1f} %"
            print(f"  nearest other target peak (any joint) {lo}-{hi} voxels: {share}")
    for axis, name in ((1, "depth"), (2, "v"), (3, "u")):
        ph = r[:, axis].astype(int) % model.S
        print(
            f"  by {name} phase (mod {model.S}): "
            + ", ".join(f"{k} {100 * exact[ph == k].mean():.1f}" for k in range(model.S) if (ph == k).any())
        )
    one = r[r[:, 7] == 1]
    if len(one):
        axes = np.abs(one[:, 4:7]).argmax(1)
        print(
            "  off by one voxel: "
            + ", ".join(f"{n} {100 * (axes == i).mean():.0f} %" for i, n in enumerate(("depth", "v", "u")))
            + f" ({len(one)} peaks; mean signed offset d/v/u {one[:, 4].mean():+.2f} {one[:, 5].mean():+.2f} "
            f"{one[:, 6].mean():+.2f})"
        )
    print(
        "  by joint: "
        + ", ".join(f"{JOINT_NAMES[j]} {100 * exact[r[:, 0] == j].mean():.0f}" for j in range(model.joints))
    )
