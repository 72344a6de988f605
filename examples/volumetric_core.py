"""Render a 60-person JTA crowd to volumetric heatmaps, find the peaks, back-project them, and report the error.

    python examples/volumetric_core.py [--people 60] [--out demo_out]

Writes ``peaks.json`` (every detected joint in metres) and ``heatmap.png`` (max over depth and joints).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from loco import Camera, VoxelGrid, ops
from loco.testing import crowd_centers, random_crowd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("demo_out"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    grid, cam = VoxelGrid.jta(), Camera.jta()
    poses = random_crowd(args.people, seed=args.seed, camera=cam, grid=grid)
    centers, joints = crowd_centers(poses, grid, cam)

    t0 = time.perf_counter()
    volume = ops.render_heatmaps(centers, joints, grid, sigma=2.0)
    t1 = time.perf_counter()
    peaks = ops.find_peaks(volume, threshold=0.1, refine="gaussian")
    t2 = time.perf_counter()
    xyz = ops.backproject(peaks.position, grid, cam)
    t3 = time.perf_counter()

    errors = []
    for j in range(14):
        errors.append(torch.cdist(poses[:, j], xyz[peaks.joint == j].double()).min(dim=1).values)
    err = torch.cat(errors)
    print(f"volume {tuple(volume.shape)} fp32, {volume.numel() * 4 / 1e6:.0f} MB")
    print(f"render {1e3 * (t1 - t0):.0f} ms, find_peaks {1e3 * (t2 - t1):.0f} ms, backproject {1e3 * (t3 - t2):.2f} ms")
    print(
        f"{len(peaks)} peaks for {args.people * 14} joints; "
        f"mean 3D error {1e3 * err.mean():.4f} mm, max {1e3 * err.max():.4f} mm"
    )

    records = [
        {"joint": int(j), "xyz": [round(float(c), 4) for c in p], "score": round(float(s), 4)}
        for j, p, s in zip(peaks.joint, xyz, peaks.score)
    ]
    (args.out / "peaks.json").write_text(json.dumps(records))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(9.6, 5.6))
        ax.imshow(volume[0].amax(dim=(0, 1)).numpy(), cmap="inferno")
        ax.set_title(f"max over joints and depth, {args.people} people")
        ax.axis("off")
        fig.savefig(args.out / "heatmap.png", dpi=100, bbox_inches="tight")
        print(f"wrote {args.out / 'peaks.json'} and {args.out / 'heatmap.png'}")
    except ImportError:
        print(f"wrote {args.out / 'peaks.json'} (install matplotlib for the picture)")


if __name__ == "__main__":
    main()
