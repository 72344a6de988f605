"""GPU check and timing of the Triton kernels at full size. Run on a CUDA machine: ``python benchmarks/gpu.py``.

1. Correctness against the torch reference on the JTA volume (14x316x136x240, 60 people): rendering within 1e-6,
   peak indices exactly, refined positions within 1e-5; float16/bfloat16 input; a batch past 2^31 elements
   (B=16, 9.2 GB) equal to its samples searched one by one.
2. Timings (median of CUDA-event-timed runs, synchronised) next to the floors: one read (``amax``), one write
   (``zero_``) and the device copy bandwidth (``copy_``: read + write), with effective GB/s.
"""

from __future__ import annotations

import argparse
import sys

import torch

from loco import Camera, VoxelGrid, ops
from loco.testing import crowd_centers, random_crowd


def bench(fn, warmup: int = 3, reps: int = 20) -> float:
    """Median milliseconds of ``fn()`` on the current CUDA stream."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return sorted(times)[len(times) // 2]


def check(name: str, ok: bool, detail: str = "") -> bool:
    print(f"  [{'ok' if ok else 'FAIL'}] {name} {detail}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=60)
    parser.add_argument("--big-batch", type=int, default=16, help="batch for the >2^31-element check (0: skip)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("benchmarks/gpu.py needs a CUDA device; none found.")
        return 1
    dev = torch.device("cuda")
    grid, cam = VoxelGrid.jta(), Camera.jta()
    poses = random_crowd(args.people, seed=0, camera=cam, grid=grid)
    centers, joints = (t.to(dev) for t in crowd_centers(poses, grid, cam))
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")

    print("correctness against the torch reference:")
    ok = True
    vol = ops.render_heatmaps(centers, joints, grid, backend="triton")
    ref_vol = ops.render_heatmaps(centers, joints, grid, backend="torch")
    err = (vol - ref_vol).abs().max().item()
    ok &= check("render_heatmaps", err <= 1e-6, f"max abs diff {err:.2e}")
    for conn in (6, 26):
        for refine in (None, "gaussian", "quadratic"):
            got = ops.find_peaks(vol, connectivity=conn, refine=refine, backend="triton")
            ref = ops.find_peaks(vol, connectivity=conn, refine=refine, backend="torch")
            same = torch.equal(got.index, ref.index) and torch.equal(got.joint, ref.joint)
            perr = (got.position - ref.position).abs().max().item() if len(got) == len(ref) else float("inf")
            ok &= check(
                f"find_peaks conn={conn} refine={refine}", same and perr <= 1e-5, f"{len(got)} peaks, {perr:.1e}"
            )
    for dtype in (torch.float16, torch.bfloat16):
        low = vol.to(dtype)
        got = ops.find_peaks(low, refine="gaussian", backend="triton")
        ref = ops.find_peaks(low.float(), refine="gaussian", backend="torch")
        ok &= check(f"find_peaks {dtype}", torch.equal(got.index, ref.index), f"{len(got)} peaks")
    xyz = ops.backproject(got.position, grid, cam, backend="triton")
    berr = (xyz - ops.backproject(got.position, grid, cam, backend="torch")).abs().max().item()
    ok &= check("backproject", berr <= 1e-4, f"max abs diff {berr:.1e} m")
    if args.big_batch:
        b = args.big_batch
        batch = torch.arange(b, device=dev).repeat_interleave(centers.shape[0])
        big = ops.render_heatmaps(centers.repeat(b, 1), joints.repeat(b), grid, batch_index=batch, batch_size=b)
        n = big.numel()
        got = ops.find_peaks(big, refine="gaussian", backend="triton")
        last = ops.find_peaks(big[-1:], refine="gaussian", backend="triton")
        same = len(got) == b * len(last) and torch.equal(got.index[got.batch == b - 1], last.index)
        ok &= check(f"batch of {b} ({n / 2**31:.2f} x 2^31 elements)", same, f"{len(got)} peaks")
        del big

    print("\ntimings (median ms; GB/s = bytes of the volume read or written / time):")
    nbytes = vol.numel() * vol.element_size()
    out = torch.empty_like(vol)
    rows = [
        ("floor: one read (amax)", bench(vol.amax), nbytes),
        ("floor: one write (zero_)", bench(out.zero_), nbytes),
        ("device copy (copy_, read + write)", bench(lambda: out.copy_(vol)), 2 * nbytes),
        ("triton find_peaks gaussian", bench(lambda: ops.find_peaks(vol, refine="gaussian", backend="triton")), nbytes),
        ("triton find_peaks integer", bench(lambda: ops.find_peaks(vol, backend="triton")), nbytes),
        ("triton find_peaks bf16", bench(lambda: ops.find_peaks(low, backend="triton")), nbytes // 2),
        ("torch reference find_peaks", bench(lambda: ops.find_peaks(vol, backend="torch"), 1, 5), nbytes),
        (
            "triton render_heatmaps (into out)",
            bench(lambda: ops.render_heatmaps(centers, joints, grid, out=out)),
            nbytes,
        ),
        (
            "torch reference render",
            bench(lambda: ops.render_heatmaps(centers, joints, grid, backend="torch"), 1, 5),
            nbytes,
        ),
        (
            "triton backproject (840 points)",
            bench(lambda: ops.backproject(got.position, grid, cam, backend="triton")),
            0,
        ),
    ]
    print(f"  {'what':<38} {'ms':>9} {'GB/s':>8}")
    for name, ms, nb in rows:
        print(f"  {name:<38} {ms:9.3f} {nb / ms / 1e6 if nb else float('nan'):8.0f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
