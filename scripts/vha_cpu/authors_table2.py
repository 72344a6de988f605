"""Table 2 on real JTA scenes: the people of the three real JTA test frames in ``../shared/authors/`` (the authors'
own LoCO predictions, 26, 28 and 14 people), rendered as the held-out synthetic frames are (sigma 2, snapped, the
full-HD JTA grid) and reconstructed by each CoarseVHA; beside it the same protocol on the synthetic frames, and how
crowded each set is and how near its people are (v2's one-channel code mixes joints that lie close together, and
it places joints of near people, depth bins below 60, worst; bin 20 is 6.3 m from the camera).

    python scripts/vha_cpu/authors_table2.py [AUTHORS_DIR=../shared/authors] [SYNTHETIC_FRAMES=16] CKPT ...

CKPT: a run folder, a ``coarse.safetensors`` file or a name in loco/weights/coarse_cpu (``vha1``, ``vha2``, ...).
The authors' poses are predictions, not JTA's annotations: they stand for real JTA layouts (how many people, how
close, at which depths), not for the frames' ground truth.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from loco import ops
from loco.geometry import Camera, VoxelGrid
from loco.metrics import DetectionMeter
from loco.training.coarse import load_coarse
from loco.training.report import EVAL_SEED
from loco.training.sampler import frame_joints
from loco.training.vha import VOXEL_THRESHOLDS, _peak_rows, _summary, heldout_volumes

torch.set_num_threads(2)
args = sys.argv[1:]
folder = Path(args.pop(0)) if args and Path(args[0]).is_dir() and (Path(args[0]) / "1_res.json").exists() else None
folder = folder or Path(__file__).resolve().parents[3] / "shared" / "authors"
synthetic_n = int(args.pop(0)) if args and args[0].isdigit() else 16
if not (folder / "1_res.json").exists():
    sys.exit(f"no authors' files in {folder}")


def authors_volumes():
    grid, camera = VoxelGrid.jta(), Camera.jta()
    for k in (1, 2, 3):
        poses = np.asarray(json.loads((folder / f"{k}_res.json").read_text())["poses"], dtype=np.float64)[..., 1:]
        centers, joints = frame_joints(poses, camera, grid)
        yield ops.render_heatmaps(centers, joints, grid, sigma=2.0, snap=True, batch_size=1)


def crowding(rows: np.ndarray, stats: dict) -> None:
    """Add one target volume's peak rows ``(joint, d, v, u)`` to ``stats``: its target peaks, how many lie in depth
    bins below 60 and 20 and their depth bins' sum, and how many have a peak of another joint type within 2 / 4
    voxels (Chebyshev), where the one-channel code mixes them."""
    stats["frames"] += 1
    stats["target_peaks"] += len(rows)
    stats["near_bins"] += int((rows[:, 1] < 60).sum()) if len(rows) else 0
    stats["nearest_bins"] += int((rows[:, 1] < 20).sum()) if len(rows) else 0
    stats["depth_bin_sum"] += float(rows[:, 1].sum()) if len(rows) else 0.0
    if len(rows) >= 2:
        idx, joint = rows[:, 1:], rows[:, 0]
        cheb = np.abs(idx[:, None] - idx[None]).max(-1)
        cheb[joint[:, None] == joint[None]] = np.inf
        nearest = cheb.min(1)
        stats["other_type_within_2"] += int((nearest <= 2).sum())
        stats["other_type_within_4"] += int((nearest <= 4).sum())


models = {}
for ckpt in args:
    models[ckpt] = load_coarse(ckpt).eval()
    models[ckpt].hidden_slope = models[ckpt].output_slope = 0.0
sets = {"authors_real_jta_layouts": authors_volumes}
if synthetic_n:
    sets[f"synthetic_seed{EVAL_SEED}_{synthetic_n}_frames"] = lambda: heldout_volumes(
        synthetic_n, seed=EVAL_SEED, reuse=True
    )
out = {}
for name, volumes in sets.items():
    t = time.perf_counter()
    keys = (
        "frames",
        "target_peaks",
        "other_type_within_2",
        "other_type_within_4",
        "near_bins",
        "nearest_bins",
        "depth_bin_sum",
    )
    stats = dict.fromkeys(keys, 0)
    meters = {ckpt: DetectionMeter(VOXEL_THRESHOLDS) for ckpt in models}
    per_frame = {ckpt: [] for ckpt in models}
    with torch.no_grad():
        for vol in volumes():
            gt = _peak_rows(vol)[0]
            crowding(gt, stats)
            for ckpt, model in models.items():
                pred = _peak_rows(model.reconstruct(vol[:, :, : model.P * model.S]))[0]
                meters[ckpt].update(pred, gt)
                one = DetectionMeter(VOXEL_THRESHOLDS)
                one.update(pred, gt)
                per_frame[ckpt].append(round(_summary(one)["f1@0"], 1))
    n = max(stats["target_peaks"], 1)
    out[name] = {
        "frames": stats["frames"],
        "target_peaks_per_frame": round(stats["target_peaks"] / max(stats["frames"], 1), 1),
        "other_type_within_2_voxels_%": round(100 * stats["other_type_within_2"] / n, 2),
        "other_type_within_4_voxels_%": round(100 * stats["other_type_within_4"] / n, 2),
        "mean_depth_bin": round(stats["depth_bin_sum"] / n, 1),
        "depth_bins_below_60_%": round(100 * stats["near_bins"] / n, 2),
        "depth_bins_below_20_%": round(100 * stats["nearest_bins"] / n, 2),
    }
    for ckpt, meter in meters.items():
        r = _summary(meter)
        out[name][ckpt] = r | {"f1@0_per_frame": per_frame[ckpt]}
        f1 = " / ".join(f"{r[f'f1@{k}']:.2f}" for k in (0, 1, 2))
        print(ckpt, name, f1, file=sys.stderr, flush=True)
    print(name, out[name]["target_peaks_per_frame"], f"{time.perf_counter() - t:.0f}s", file=sys.stderr, flush=True)
print(json.dumps(out, indent=2))
