"""How far the function the windows recipe trains is from the whole-frame function the tables score.

A training window (``crop`` voxels x ``window_depth`` code positions) sees only its part of the frame: the network
zero-pads at the window's edges, where on the whole frame it sees the neighbours. The loss skips ``margin`` voxels
(and 12 bins in depth) at those inner edges, but the VHA's receptive field is far wider. For each target peak of
held-out full-HD frames this runs the window training would centre on it (no jitter) and compares the window's output
with the whole frame's (:meth:`CoarseVHA.reconstruct`) over the voxels its loss scores.

    python scripts/vha_cpu/context.py CKPT [FRAMES=2] [CROP=48] [WINDOW_DEPTH=20] [MARGIN=6] [SEED=10000]

Defaults are v2's training options (v3: 64 10 8).
"""

import sys

import numpy as np
import torch
import torch.nn.functional as F

from loco.training import VHAConfig
from loco.training.coarse import load_coarse
from loco.training.vha import _peak_rows, heldout_volumes
from loco.training.windows import WindowSampler

DEPTH_MARGIN, NEAR = 12, 12
torch.set_num_threads(2)
ckpt = sys.argv[1]
frames = int(sys.argv[2]) if len(sys.argv) > 2 else 2
crop = int(sys.argv[3]) if len(sys.argv) > 3 else 48
pw = int(sys.argv[4]) if len(sys.argv) > 4 else 20
margin = int(sys.argv[5]) if len(sys.argv) > 5 else 6
seed = int(sys.argv[6]) if len(sys.argv) > 6 else 10_000
model = load_coarse(ckpt).eval()
model.hidden_slope = model.output_slope = 0.0
S, P = model.S, model.P
# training's own window geometry: the part inside the frame (box) and the voxels the loss scores (_valid_box)
sampler = WindowSampler(
    VHAConfig(crop=(crop, crop), window_depth=pw, margin=margin, depth_margin=DEPTH_MARGIN, image_size=(1080, 1920)),
    model,
)


def peak_set(rows: np.ndarray, origin: tuple[int, int, int] = (0, 0, 0)) -> set:
    """``(joint, d, v, u)`` tuples of :func:`_peak_rows`' rows (the peaks Table 2 scores), shifted by ``origin``."""
    d0, v0, u0 = origin
    return {(int(j), int(d) + d0, int(v) + v0, int(u) + u0) for j, d, v, u in rows}


def inner_edge(z: int, rr: int, cc: int, edge: tuple) -> int:
    """Voxels (bins in depth) from ``(z, rr, cc)`` in a window to its nearest edge that is not the frame's or the
    volume's; ``edge``: the window's origin ``(d0, v0, u0)`` and the frame's grid ``(gh, gw)``."""
    d0, v0, u0, gh, gw = edge
    e = [rr if v0 > 0 else 99, crop - 1 - rr if v0 + crop < gh else 99]
    e += [cc if u0 > 0 else 99, crop - 1 - cc if u0 + crop < gw else 99]
    e += [z if d0 > 0 else 99, pw * S - 1 - z if d0 + pw * S < P * S else 99]
    return min(e)


centre = {"n": 0, "whole": 0, "window": 0}
split = {"near": [0, 0], "far": [0, 0]}  # target peaks scored, of them a peak in one output only
diff_t, diff_max, where = [], [], []
with torch.no_grad():
    for vol in heldout_volumes(frames, image_size=(1080, 1920), seed=seed):
        vol = vol[:, :, : P * S]
        gh, gw = vol.shape[-2:]
        rec = model.reconstruct(vol)[0]
        whole_peaks = peak_set(_peak_rows(rec[None])[0])
        tg = _peak_rows(vol)[0].astype(int)
        pad = F.pad(vol, (crop, crop, crop, crop))
        for k0 in range(0, len(tg), 16):
            rows = tg[k0 : k0 + 16]
            wins, boxes, origin = [], [], []
            for _, d, v, u in rows:  # the window training places on this joint, without its random offset
                d0, v0, u0 = sampler.placed(round(d / S - pw / 2), round(v - crop / 2), round(u - crop / 2), (gh, gw))
                wins.append(pad[0, :, d0 : d0 + pw * S, v0 + crop : v0 + 2 * crop, u0 + crop : u0 + 2 * crop])
                boxes.append(sampler.box(v0, u0, 0, (gh, gw)))
                origin.append((d0, v0, u0))
            y = model(torch.stack(wins), torch.tensor(boxes))
            for (j, d, v, u), yy, rows_y, (d0, v0, u0), (t, b, lft, r) in zip(rows, y, _peak_rows(y), origin, boxes):
                window_peaks = peak_set(rows_y, (d0, v0, u0))
                centre["n"] += 1
                centre["whole"] += (j, d, v, u) in whole_peaks
                centre["window"] += (j, d, v, u) in window_peaks
                diff_t.append(abs(float(yy[j, d - d0, v - v0, u - u0] - rec[j, d, v, u])))
                # the voxels the loss scores: margins at the window's edges that are not the frame's or the volume's
                _, (z0, z1, r0, r1, c0, c1) = sampler._valid_box(d0, v0, u0, 0, (gh, gw))
                edge = (d0, v0, u0, gh, gw)

                whole = rec[:, d0 : d0 + pw * S, max(v0, 0) : v0 + crop, max(u0, 0) : u0 + crop]
                dm = (yy[:, :, t:b, lft:r] - whole).abs()[:, z0:z1, r0 - t : r1 - t, c0 - lft : c1 - lft]
                diff_max.append(float(dm.max()))
                if diff_max[-1] > 0.05:
                    z, rr, cc = np.unravel_index(int(dm.amax(0).argmax()), dm.shape[1:])
                    where.append(inner_edge(z + z0, rr + r0, cc + c0, edge))
                inside = (tg[:, 1] >= d0 + z0) & (tg[:, 1] < d0 + z1) & (tg[:, 2] >= v0 + r0) & (tg[:, 2] < v0 + r1)
                inside &= (tg[:, 3] >= u0 + c0) & (tg[:, 3] < u0 + c1)
                for jj, dd, vv, uu in tg[inside]:
                    key = "near" if inner_edge(dd - d0, vv - v0, uu - u0, edge) < NEAR else "far"
                    split[key][0] += 1
                    peak = (jj, dd, vv, uu)
                    split[key][1] += (peak in whole_peaks) != (peak in window_peaks)
n = centre["n"]
print(f"{ckpt}: {n} target peaks on {frames} frames (seed {seed}), crop {crop}, window depth {pw}, margin {margin}")
print(
    f"a peak at the window's centre joint: whole frame {100 * centre['whole'] / n:.2f} %, "
    f"its training window {100 * centre['window'] / n:.2f} %"
)
dt, dm = np.array(diff_t), np.array(diff_max)
print(f"|window - whole| there: median {np.median(dt):.4f}, 90 % {np.quantile(dt, 0.9):.4f}, max {dt.max():.4f}")
print(
    f"max |window - whole| over a window's scored voxels: median {np.median(dm):.4f}, "
    f"90 % {np.quantile(dm, 0.9):.4f}, max {dm.max():.4f}"
)
if where:
    print(
        f"windows with a scored voxel off by > 0.05: {len(where)}; that voxel's distance to an inner edge, counts for "
        f"0 .. >= {NEAR}: {np.bincount(np.minimum(where, NEAR), minlength=NEAR + 1).tolist()}"
    )
for key, (k, m) in split.items():
    print(f"scored target peaks {key} (<{NEAR} or >={NEAR} from an inner edge): {k}, a peak in one output only: {m}")
