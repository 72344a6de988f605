"""Sparse Gaussian heatmap rendering, pure torch: the readable reference (any device)."""

from __future__ import annotations

import torch

# Elements of the (centres x cube) expansion handled at once, to bound memory for large sigma.
_CHUNK_ELEMENTS = 1 << 22


def render_torch(
    out: torch.Tensor,
    centers: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
    channel: torch.Tensor,
    sigma: float,
    radius: int,
) -> torch.Tensor:
    """Max-splat each centre's truncated Gaussian into a zeroed ``out``.

    Args:
        out: (C, D, H, W) float32, zeroed; C = B * J channels.
        centers: (K, 3) float32 finite voxel coordinates (d, v, u).
        lo, hi: (K, 3) int64 inclusive voxel bounds of each centre's cube, already clipped to the volume.
        channel: (K,) int64 flat channel ``b * J + j`` of each centre.
        sigma: Gaussian width in voxels; value ``exp(-||x - c||^2 / sigma^2)``.
        radius: half side of the cube, the bounds' source (kept for the cube size).
    """
    _, depth, height, width = out.shape
    side = 2 * radius + 1
    steps = torch.arange(side, device=out.device)
    cube = torch.stack(torch.meshgrid(steps, steps, steps, indexing="ij"), dim=-1).reshape(-1, 3)
    inv_s2 = torch.tensor(1.0 / (sigma * sigma), dtype=torch.float32)
    flat_out = out.view(-1)
    chunk = max(1, _CHUNK_ELEMENTS // cube.shape[0])
    for start in range(0, centers.shape[0], chunk):
        sl = slice(start, start + chunk)
        vox = lo[sl, None, :] + cube[None]  # (k, S^3, 3)
        inside = (vox <= hi[sl, None, :]).all(-1)
        diff = vox.to(torch.float32) - centers[sl, None, :]
        d2 = diff[..., 0] * diff[..., 0] + diff[..., 1] * diff[..., 1] + diff[..., 2] * diff[..., 2]
        val = torch.exp(-d2 * inv_s2.to(out.device))
        flat = ((channel[sl, None] * depth + vox[..., 0]) * height + vox[..., 1]) * width + vox[..., 2]
        flat_out.scatter_reduce_(0, flat[inside], val[inside], reduce="amax")
    return out
