"""Fused peak search on CPU with numba, two passes over rows of W voxels.

Pass 1 (parallel) streams the volume once: a vectorised count of the row's voxels above threshold, and only for
rows that have some, the neighbour test, giving the number of peaks per row. Pass 2 (serial) revisits only the rows
that hold peaks and writes them, refined, at their prefix-sum offsets, so the output is complete and in memory
order without a fixed-capacity buffer.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange

from loco.kernels._backend import numba_threads

_MODE = {None: 0, "gaussian": 1, "quadratic": 2}


@njit(inline="always", cache=True)
def _beats(x, y, plateau):  # pragma: no cover - compiled
    return x >= y if plateau else x > y


@njit(cache=True, nogil=True, error_model="numpy")
def _is_peak(vol, c, d, v, u, x, conn26, plateau):  # pragma: no cover - compiled
    _, depth, height, width = vol.shape
    if conn26:
        for dd in range(-1, 2):
            nd = d + dd
            if nd < 0 or nd >= depth:
                continue
            for dv in range(-1, 2):
                nv = v + dv
                if nv < 0 or nv >= height:
                    continue
                for du in range(-1, 2):
                    nu = u + du
                    if nu < 0 or nu >= width or (dd == 0 and dv == 0 and du == 0):
                        continue
                    if not _beats(x, vol[c, nd, nv, nu], plateau):
                        return False
        return True
    if u > 0 and not _beats(x, vol[c, d, v, u - 1], plateau):
        return False
    if u < width - 1 and not _beats(x, vol[c, d, v, u + 1], plateau):
        return False
    if v > 0 and not _beats(x, vol[c, d, v - 1, u], plateau):
        return False
    if v < height - 1 and not _beats(x, vol[c, d, v + 1, u], plateau):
        return False
    if d > 0 and not _beats(x, vol[c, d - 1, v, u], plateau):
        return False
    if d < depth - 1 and not _beats(x, vol[c, d + 1, v, u], plateau):
        return False
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _refine(h0, hm, hp, mode):  # pragma: no cover - compiled
    if not (hm > 0 and hp > 0 and h0 > 0):
        return np.float32(0.0)
    if mode == 1:
        hm = np.log(hm)
        h0 = np.log(h0)
        hp = np.log(hp)
    den = hm - np.float32(2.0) * h0 + hp
    if not den < 0:
        return np.float32(0.0)
    off = np.float32(0.5) * (hm - hp) / den
    return np.float32(min(max(off, -0.5), 0.5))


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _count_rows(vol, thr, conn26, plateau, counts):  # pragma: no cover - compiled
    nc, depth, height, width = vol.shape
    for s in prange(nc * depth):
        c = s // depth
        d = s - c * depth
        for v in range(height):
            row = vol[c, d, v]
            above = 0
            for u in range(width):  # branch-free, vectorised: most rows have nothing above threshold
                above += row[u] > thr
            n = 0
            if above:
                for u in range(width):
                    x = row[u]
                    if x > thr and _is_peak(vol, c, d, v, u, x, conn26, plateau):
                        n += 1
            counts[s * height + v] = n


@njit(cache=True, nogil=True, error_model="numpy")
def _write_rows(vol, thr, conn26, plateau, mode, rows, starts, flat, score, offset):  # pragma: no cover - compiled
    _, depth, height, width = vol.shape
    for t in range(rows.shape[0]):  # serial: a few hundred rows, not worth waking the thread pool
        r = rows[t]
        v = r % height
        s = r // height
        d = s % depth
        c = s // depth
        k = starts[t]
        for u in range(width):
            x = vol[c, d, v, u]
            if x > thr and _is_peak(vol, c, d, v, u, x, conn26, plateau):
                flat[k] = r * width + u
                score[k] = x
                if mode != 0:
                    hm = vol[c, d - 1, v, u] if d > 0 else -np.inf
                    hp = vol[c, d + 1, v, u] if d < depth - 1 else -np.inf
                    offset[k, 0] = _refine(x, hm, hp, mode)
                    hm = vol[c, d, v - 1, u] if v > 0 else -np.inf
                    hp = vol[c, d, v + 1, u] if v < height - 1 else -np.inf
                    offset[k, 1] = _refine(x, hm, hp, mode)
                    hm = vol[c, d, v, u - 1] if u > 0 else -np.inf
                    hp = vol[c, d, v, u + 1] if u < width - 1 else -np.inf
                    offset[k, 2] = _refine(x, hm, hp, mode)
                k += 1


def find_peaks_numba(
    volume: torch.Tensor, threshold: float, connectivity: int, ties: str, refine: str | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Peaks of ``volume`` (C, D, H, W) in memory order; float16/bfloat16 are converted to float32 first.

    Returns:
        flat (K,) int64 flat index, score (K,) float32, offset (K, 3) float32.
    """
    if volume.dtype not in (torch.float32, torch.float64):
        volume = volume.to(torch.float32)
    vol = volume.detach().contiguous().numpy()
    nc, depth, height, width = vol.shape
    thr = vol.dtype.type(threshold)
    conn26, plateau, mode = connectivity == 26, ties == "plateau", _MODE[refine]
    counts = np.empty(nc * depth * height, dtype=np.int32)
    with numba_threads():
        _count_rows(vol, thr, conn26, plateau, counts)
        rows = np.flatnonzero(counts)
        starts = np.zeros(rows.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts[rows], out=starts[1:])
        total = int(starts[-1])
        flat = np.empty(total, dtype=np.int64)
        score = np.empty(total, dtype=vol.dtype)
        offset = np.zeros((total, 3), dtype=np.float32)
        _write_rows(vol, thr, conn26, plateau, mode, rows, starts, flat, score, offset)
    return torch.from_numpy(flat), torch.from_numpy(score).to(torch.float32), torch.from_numpy(offset)
