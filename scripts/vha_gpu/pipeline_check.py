"""The bundled pipeline on CUDA against the CPU: ``python scripts/vha_gpu/pipeline_check.py`` (prints one table).

People are matched one to one (Hungarian on the mean distance of the joints both have); for CUDA with TF32 allowed
(PyTorch's default for cuDNN convolutions) and with it off: matched people, their joint distance to the CPU's
(median and max) and the median time of ``predict`` on the bundled demo image (CUDA synchronised, after warm-up)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.optimize import linear_sum_assignment

import loco
from loco import LoCO

IMAGE = Path(loco.__file__).parent / "assets" / "demo.jpg"


def timed(fn, reps: int, sync: bool) -> float:
    times = []
    for _ in range(reps):
        if sync:
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if sync:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2] * 1e3


def compare(a: np.ndarray, b: np.ndarray) -> str:
    """Match the people of ``a`` and ``b`` (P, 14, 3) and describe the differences."""
    d = np.linalg.norm(a[:, None] - b[None], axis=-1)  # (Pa, Pb, 14), NaN where either misses the joint
    both = ~np.isnan(d)
    cost = np.where(both.any(-1), np.nansum(np.nan_to_num(d, nan=0.0), -1) / np.maximum(both.sum(-1), 1), 1e3)
    ra, rb = linear_sum_assignment(cost)
    close = cost[ra, rb] < 1e-3
    same_nan = np.isnan(a[ra]).all(-1) == np.isnan(b[rb]).all(-1)
    dist = d[ra, rb][both[ra, rb]]
    return (
        f"{len(a)} vs {len(b)} people, {int(close.sum())} matched within 1 mm (mean joint distance), "
        f"{int(same_nan.all(-1).sum())} with the same missing joints; joint distance median "
        f"{np.median(dist) * 1e3:.4f} mm, 99th pct {np.percentile(dist, 99) * 1e3:.2f} mm, "
        f"max {dist.max() * 1e3:.1f} mm"
    )


def main() -> None:
    img = np.asarray(Image.open(IMAGE).convert("RGB"))
    cpu = LoCO.from_pretrained("vha2", device="cpu")
    ref = cpu.predict(img).poses3d
    print(f"cpu: {len(ref)} people, predict median {timed(lambda: cpu.predict(img), 3, False):.1f} ms")
    gpu = LoCO.from_pretrained("vha2", device="cuda")
    for tf32 in (True, False):  # Settings.tf32 (predict sets PyTorch's switches itself; global ones are overridden)
        got = gpu.predict(img, tf32=tf32).poses3d
        ms = timed(lambda t=tf32: gpu.predict(img, tf32=t), 10, True)
        print(f"cuda tf32={tf32}: predict median {ms:.1f} ms; vs cpu: {compare(ref, got)}")


if __name__ == "__main__":
    main()
