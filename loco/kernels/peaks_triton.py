"""Fused peak search on CUDA with Triton: one pass doing the neighbour comparison, threshold, compaction and
sub-voxel refinement.

One program per (channel x depth slab, block of H*W voxels). Neighbour loads are masked by the threshold test, so
a voxel below threshold costs one read. Compaction: a per-program count, one ``tl.atomic_add`` on a global counter
for the program's slot, then ordered writes via a cumulative sum. The counter keeps counting past the buffer's
capacity, so the host knows the exact total and reruns with a large enough buffer: no peak is ever dropped.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from loco.kernels._triton_utils import block_size

_MODE = {None: 0, "gaussian": 1, "quadratic": 2}
_INITIAL_CAPACITY = 4096


@triton.jit
def _beats(x, y, PLATEAU: tl.constexpr):
    if PLATEAU:
        return x >= y
    else:
        return x > y


@triton.jit
def _neighbour(vol_ptr, idx, mask):
    return tl.load(vol_ptr + idx, mask=mask, other=float("-inf")).to(tl.float32)


@triton.jit
def _refine(h0, hm, hp, MODE: tl.constexpr):
    valid = (hm > 0) & (hp > 0) & (h0 > 0)
    hm = tl.where(valid, hm, 1.0)  # keeps -inf (outside the volume) out of the arithmetic of masked lanes
    h0 = tl.where(valid, h0, 1.0)
    hp = tl.where(valid, hp, 1.0)
    if MODE == 1:
        hm = tl.log(hm)
        h0 = tl.log(h0)
        hp = tl.log(hp)
    den = hm - 2.0 * h0 + hp
    valid = valid & (den < 0)
    off = 0.5 * (hm - hp) / tl.where(valid, den, -1.0)
    off = tl.minimum(tl.maximum(off, -0.5), 0.5)
    return tl.where(valid, off, 0.0)


@triton.jit
def _find_peaks_kernel(
    vol_ptr,
    flat_ptr,
    score_ptr,
    offset_ptr,
    count_ptr,
    capacity,
    n_slabs,
    depth,
    height,
    width,
    thr,
    CONN26: tl.constexpr,
    PLATEAU: tl.constexpr,
    MODE: tl.constexpr,
    SLABS: tl.constexpr,
    BLOCK: tl.constexpr,
):
    # A [SLABS, BLOCK] tile: SLABS (channel, depth) slabs by BLOCK voxels of their H*W plane. GPUs use SLABS=2;
    # the interpreter uses many, as its cost is per program and per op, not per element.
    slab = tl.program_id(0).to(tl.int64) * SLABS + tl.arange(0, SLABS)[:, None]
    # Within a plane int32 is enough (H*W < 2^31) and its division is much cheaper on GPUs than int64's.
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)[None, :]
    hw = height.to(tl.int64) * width
    inside = (slab < n_slabs) & (offs < height * width)
    d = slab % depth
    v = offs // width
    u = offs % width
    idx = slab * hw + offs.to(tl.int64)
    x = tl.load(vol_ptr + idx, mask=inside, other=float("-inf")).to(tl.float32)
    cand = inside & (x > thr)
    um = _neighbour(vol_ptr, idx - 1, cand & (u > 0))
    up = _neighbour(vol_ptr, idx + 1, cand & (u < width - 1))
    vm = _neighbour(vol_ptr, idx - width, cand & (v > 0))
    vp = _neighbour(vol_ptr, idx + width, cand & (v < height - 1))
    dm = _neighbour(vol_ptr, idx - hw, cand & (d > 0))
    dp = _neighbour(vol_ptr, idx + hw, cand & (d < depth - 1))
    peak = cand & _beats(x, um, PLATEAU) & _beats(x, up, PLATEAU) & _beats(x, vm, PLATEAU)
    peak = peak & _beats(x, vp, PLATEAU) & _beats(x, dm, PLATEAU) & _beats(x, dp, PLATEAU)
    if CONN26:
        # nested static ranges (compile-time offsets); a constexpr assigned in a loop body compiles in the
        # interpreter only ("constexpr cannot be reassigned" from the compiler; tests/test_triton_compile.py)
        for dd in tl.static_range(-1, 2):
            for dv in tl.static_range(-1, 2):
                for du in tl.static_range(-1, 2):
                    if dd * dd + dv * dv + du * du >= 2:  # edges and corners; faces were tested above
                        m = cand & (d + dd >= 0) & (d + dd < depth) & (v + dv >= 0) & (v + dv < height)
                        m = m & (u + du >= 0) & (u + du < width)
                        y = _neighbour(vol_ptr, idx + dd * hw + dv * width + du, m)
                        peak = peak & _beats(x, y, PLATEAU)
    peak = tl.reshape(peak, [SLABS * BLOCK])
    n = tl.sum(peak.to(tl.int32), axis=0)
    if n > 0:
        slot = tl.atomic_add(count_ptr, n)
        pos = slot + tl.cumsum(peak.to(tl.int32), axis=0) - 1
        write = peak & (pos < capacity)
        pos = pos.to(tl.int64)
        tl.store(flat_ptr + pos, tl.reshape(idx, [SLABS * BLOCK]), mask=write)
        tl.store(score_ptr + pos, tl.reshape(x, [SLABS * BLOCK]), mask=write)
        if MODE != 0:
            off_d = tl.reshape(_refine(x, dm, dp, MODE), [SLABS * BLOCK])
            off_v = tl.reshape(_refine(x, vm, vp, MODE), [SLABS * BLOCK])
            off_u = tl.reshape(_refine(x, um, up, MODE), [SLABS * BLOCK])
            tl.store(offset_ptr + pos * 3 + 0, off_d, mask=write)
            tl.store(offset_ptr + pos * 3 + 1, off_v, mask=write)
            tl.store(offset_ptr + pos * 3 + 2, off_u, mask=write)


def find_peaks_triton(
    volume: torch.Tensor, threshold: float, connectivity: int, ties: str, refine: str | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Peaks of ``volume`` (C, D, H, W) float16/bfloat16/float32 (float64 is compared as float32), unordered.

    Returns:
        flat (K,) int64 flat index, score (K,) float32, offset (K, 3) float32.
    """
    vol = volume.detach().contiguous()
    if vol.dtype == torch.float64:
        vol = vol.to(torch.float32)
    nc, depth, height, width = vol.shape
    block = block_size(height * width, gpu=512)
    slabs = block_size(nc * depth, gpu=2, interpreter_max=max(1, (1 << 14) // block))
    grid = (triton.cdiv(nc * depth, slabs), triton.cdiv(height * width, block))
    counter = torch.zeros(1, dtype=torch.int32, device=vol.device)
    capacity = _INITIAL_CAPACITY
    while True:
        flat = torch.empty(capacity, dtype=torch.int64, device=vol.device)
        score = torch.empty(capacity, dtype=torch.float32, device=vol.device)
        offset = torch.zeros(capacity, 3, dtype=torch.float32, device=vol.device)
        _find_peaks_kernel[grid](
            vol,
            flat,
            score,
            offset,
            counter,
            capacity,
            nc * depth,
            depth,
            height,
            width,
            float(threshold),
            CONN26=connectivity == 26,
            PLATEAU=ties == "plateau",
            MODE=_MODE[refine],
            SLABS=slabs,
            BLOCK=block,
        )
        total = int(counter.item())
        if total <= capacity:
            return flat[:total], score[:total], offset[:total]
        capacity = total  # the counter kept counting past the buffer: rerun once with room for all
        counter.zero_()
