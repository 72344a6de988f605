"""Sparse Gaussian heatmap rendering on CPU with numba: one thread per channel, so the max needs no atomics."""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange

from loco.kernels._backend import numba_threads


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _render_numba(out, centers, lo, hi, order, starts, channels, inv_s2):  # pragma: no cover - compiled
    for t in prange(channels.shape[0]):
        ch = channels[t]
        for q in range(starts[t], starts[t + 1]):
            k = order[q]
            cd = centers[k, 0]
            cv = centers[k, 1]
            cu = centers[k, 2]
            for d in range(lo[k, 0], hi[k, 0] + 1):
                dd = np.float32(d) - cd
                for v in range(lo[k, 1], hi[k, 1] + 1):
                    dv = np.float32(v) - cv
                    base = dd * dd + dv * dv
                    row = out[ch, d, v]
                    for u in range(lo[k, 2], hi[k, 2] + 1):
                        du = np.float32(u) - cu
                        val = np.exp(-(base + du * du) * inv_s2)
                        if val > row[u]:
                            row[u] = val


def render_numba(
    out: torch.Tensor,
    centers: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
    channel: torch.Tensor,
    sigma: float,
) -> torch.Tensor:
    """Max-splat each centre's clipped cube ``[lo, hi]`` into the zeroed ``out`` (C, D, H, W) float32.

    Centres are grouped by channel on the host (a stable sort), so each channel is written by one thread.
    """
    if centers.shape[0] == 0:
        return out
    order = torch.argsort(channel, stable=True)
    chans, counts = torch.unique_consecutive(channel[order], return_counts=True)
    starts = torch.zeros(chans.shape[0] + 1, dtype=torch.int64)
    torch.cumsum(counts, 0, out=starts[1:])
    with numba_threads():
        _render_numba(
            out.numpy(),
            centers.numpy(),
            lo.numpy(),
            hi.numpy(),
            order.numpy(),
            starts.numpy(),
            chans.numpy(),
            np.float32(1.0 / (sigma * sigma)),
        )
    return out
