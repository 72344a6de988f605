"""Sparse Gaussian heatmap rendering on CUDA with Triton: one program per (centre, block of its cube), atomic max.

The output is cleared first, so every value written is >= 0 and ``tl.atomic_max`` on float32 is exact.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from loco.kernels._triton_utils import block_size


@triton.jit
def _render_kernel(
    out_ptr,
    centers_ptr,
    lo_ptr,
    hi_ptr,
    channel_ptr,
    depth,
    height,
    width,
    inv_s2,
    SIDE: tl.constexpr,
    BLOCK: tl.constexpr,
):
    k = tl.program_id(0).to(tl.int64)
    offs = tl.program_id(1).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    cd = tl.load(centers_ptr + k * 3 + 0)
    cv = tl.load(centers_ptr + k * 3 + 1)
    cu = tl.load(centers_ptr + k * 3 + 2)
    d = tl.load(lo_ptr + k * 3 + 0) + offs // (SIDE * SIDE)
    v = tl.load(lo_ptr + k * 3 + 1) + (offs // SIDE) % SIDE
    u = tl.load(lo_ptr + k * 3 + 2) + offs % SIDE
    mask = (
        (offs < SIDE * SIDE * SIDE)
        & (d <= tl.load(hi_ptr + k * 3 + 0))
        & (v <= tl.load(hi_ptr + k * 3 + 1))
        & (u <= tl.load(hi_ptr + k * 3 + 2))
    )
    dd = d.to(tl.float32) - cd
    dv = v.to(tl.float32) - cv
    du = u.to(tl.float32) - cu
    val = tl.exp(-(dd * dd + dv * dv + du * du) * inv_s2)
    ch = tl.load(channel_ptr + k)
    ptr = out_ptr + ((ch * depth + d) * height + v) * width + u
    tl.atomic_max(ptr, val, mask=mask)


def render_triton(
    out: torch.Tensor,
    centers: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
    channel: torch.Tensor,
    sigma: float,
    radius: int,
) -> torch.Tensor:
    """Max-splat each centre's clipped cube ``[lo, hi]`` into the zeroed ``out`` (C, D, H, W) float32."""
    k = centers.shape[0]
    if k == 0:
        return out
    _, depth, height, width = out.shape
    side = 2 * radius + 1
    block = block_size(side**3, gpu=512)
    grid = (k, triton.cdiv(side**3, block))
    _render_kernel[grid](
        out,
        centers,
        lo,
        hi,
        channel,
        depth,
        height,
        width,
        1.0 / (sigma * sigma),
        SIDE=side,
        BLOCK=block,
    )
    return out
