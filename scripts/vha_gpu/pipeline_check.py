"""The bundled pipeline on CUDA against the CPU: ``python scripts/vha_gpu/pipeline_check.py`` (prints one table).

Same people found (count, per-joint distance between the CUDA and CPU poses after sorting by root depth) and the
median time of ``predict`` on the bundled demo image on each device (CUDA timed after warm-up, synchronised)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

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


def main() -> None:
    img = np.asarray(Image.open(IMAGE).convert("RGB"))
    results = {}
    for dev in ("cpu", "cuda"):
        model = LoCO.from_pretrained("vha2", device=dev)
        pred = model.predict(img)
        ms = timed(lambda m=model: m.predict(img), 10 if dev == "cuda" else 3, dev == "cuda")
        poses = pred.poses3d[np.argsort(np.nan_to_num(pred.poses3d[:, 0, 2], nan=1e9))]
        results[dev] = (poses, ms)
        print(f"{dev}: {len(poses)} people, predict median {ms:.1f} ms")
    (a, _), (b, _) = results["cpu"], results["cuda"]
    if len(a) == len(b):
        d = np.linalg.norm(a - b, axis=-1)
        print(
            f"cuda vs cpu: same count; joint distance max {np.nanmax(d) * 1e3:.3f} mm, NaN pattern equal: "
            f"{bool((np.isnan(a) == np.isnan(b)).all())}"
        )
    else:
        print(f"cuda vs cpu: {len(b)} vs {len(a)} people")


if __name__ == "__main__":
    main()
