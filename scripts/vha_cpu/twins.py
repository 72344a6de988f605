"""What a CoarseVHA's unmatched peaks are, on held-out full-HD frames (Table 2's, seed 10000): every output peak of
``CoarseVHA.reconstruct`` that Table 2's matching leaves unmatched at 2 voxels is

* "twin": one voxel (Chebyshev) from an output peak of the same joint type, i.e. diagonal to it (the 6-connected
  peak search compares a voxel with its 6 face neighbours only, so a flat-topped blob keeps a second maximum at a
  sqrt 2 or sqrt 3 offset); the offsets are counted by how many axes differ;
* "other-joint": within 2 voxels of a target peak of another joint type (a leak through the 14-to-1 code);
* "far": the rest;

with each class's output values (quartiles), against the matched peaks' values.

    python scripts/vha_cpu/twins.py [CKPT=vha2] [FRAMES=4]    # a run folder, a coarse file or a bundled name
"""

import collections
import sys

import numpy as np
import torch

from loco.metrics import match_joints
from loco.training.coarse import load_coarse
from loco.training.vha import _peak_rows, heldout_volumes

torch.set_num_threads(2)
spec = sys.argv[1] if len(sys.argv) > 1 else "vha2"
frames = int(sys.argv[2]) if len(sys.argv) > 2 else 4
model = load_coarse(spec).eval()
model.hidden_slope = model.output_slope = 0.0


kinds = collections.defaultdict(list)
offsets = collections.Counter()
n_pred = n_gt = missed = 0
with torch.no_grad():
    for vol in heldout_volumes(frames):
        vol = vol[:, :, : model.P * model.S]
        rec = model.reconstruct(vol)
        pred, gt = (_peak_rows(x)[0].astype(np.int64) for x in (rec, vol))  # rows (joint, d, v, u)
        score = rec[0].numpy()[tuple(pred.T)]
        m = match_joints(pred, gt, 2.0)
        matched = np.zeros(len(pred), bool)
        matched[m.pred] = True
        n_pred, n_gt, missed = n_pred + len(pred), n_gt + len(gt), missed + len(gt) - len(m.gt)
        kinds["matched"] += list(score[matched])
        for i in np.flatnonzero(~matched):
            same = np.flatnonzero((pred[:, 0] == pred[i, 0]) & (np.arange(len(pred)) != i))
            cheb = np.abs(pred[same, 1:] - pred[i, 1:]).max(1) if len(same) else np.zeros(0)
            other = gt[gt[:, 0] != pred[i, 0], 1:]
            if len(cheb) and cheb.min() == 1:
                kinds["twin"].append(score[i])
                offsets[int((pred[same[np.argmin(cheb)], 1:] != pred[i, 1:]).sum())] += 1
            elif len(other) and np.linalg.norm(other - pred[i, 1:], axis=1).min() <= 2:
                kinds["other-joint"].append(score[i])
            else:
                kinds["far"].append(score[i])
unmatched = n_pred - len(kinds["matched"])
print(f"{spec}, {frames} held-out 1080x1920 frames: {n_pred} output peaks, {n_gt} target peaks, {missed} missed")
print(f"unmatched at 2 voxels: {unmatched} ({100 * unmatched / max(n_pred, 1):.1f} % of the output peaks)")
for kind in ("matched", "twin", "other-joint", "far"):
    v = np.array(kinds[kind])
    q = " / ".join(f"{x:.2f}" for x in np.quantile(v, [0.25, 0.5, 0.75])) if len(v) else "-"
    print(f"  {kind:12s} {len(v):5d}   value quartiles {q}")
print("  twins by axes differing from their neighbour peak (2: sqrt 2, 3: sqrt 3):", dict(sorted(offsets.items())))
