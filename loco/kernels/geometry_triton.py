"""Pinhole projection and back-projection on CUDA with Triton, one fused elementwise pass over (K, 3) points."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from loco.geometry import Camera, VoxelGrid
from loco.kernels._triton_utils import block_size


@triton.jit
def _backproject_kernel(
    pos_ptr, out_ptr, n, fx, fy, cx, cy, stride, min_depth, bin_size, DISTANCE: tl.constexpr, BLOCK: tl.constexpr
):
    k = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = k < n
    d = tl.load(pos_ptr + k * 3 + 0, mask=mask, other=0.0).to(tl.float32)
    v = tl.load(pos_ptr + k * 3 + 1, mask=mask, other=0.0).to(tl.float32)
    u = tl.load(pos_ptr + k * 3 + 2, mask=mask, other=0.0).to(tl.float32)
    rx = (u * stride - cx) / fx
    ry = (v * stride - cy) / fy
    depth = min_depth + d * bin_size
    if DISTANCE:
        z = depth / tl.sqrt(rx * rx + ry * ry + 1.0)
    else:
        z = depth
    tl.store(out_ptr + k * 3 + 0, rx * z, mask=mask)
    tl.store(out_ptr + k * 3 + 1, ry * z, mask=mask)
    tl.store(out_ptr + k * 3 + 2, z, mask=mask)


@triton.jit
def _project_kernel(
    xyz_ptr, out_ptr, n, fx, fy, cx, cy, stride, min_depth, bin_size, DISTANCE: tl.constexpr, BLOCK: tl.constexpr
):
    k = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = k < n
    x = tl.load(xyz_ptr + k * 3 + 0, mask=mask, other=1.0).to(tl.float32)
    y = tl.load(xyz_ptr + k * 3 + 1, mask=mask, other=1.0).to(tl.float32)
    z = tl.load(xyz_ptr + k * 3 + 2, mask=mask, other=1.0).to(tl.float32)
    if DISTANCE:
        depth = tl.sqrt(x * x + y * y + z * z)
    else:
        depth = z
    tl.store(out_ptr + k * 3 + 0, (depth - min_depth) / bin_size, mask=mask)
    tl.store(out_ptr + k * 3 + 1, (fy * y / z + cy) / stride, mask=mask)
    tl.store(out_ptr + k * 3 + 2, (fx * x / z + cx) / stride, mask=mask)


def _launch(kernel, points: torch.Tensor, grid: VoxelGrid, camera: Camera) -> torch.Tensor:
    pts = points.detach().contiguous()
    out = torch.empty(pts.shape, dtype=torch.float32, device=pts.device)
    n = pts.shape[0]
    block = block_size(n, gpu=256)
    kernel[(triton.cdiv(n, block),)](
        pts,
        out,
        n,
        camera.fx,
        camera.fy,
        camera.cx,
        camera.cy,
        float(grid.stride),
        grid.min_depth,
        grid.bin_size,
        DISTANCE=grid.depth_mode == "distance",
        BLOCK=block,
    )
    return out.to(points.dtype)


def backproject_triton(positions: torch.Tensor, grid: VoxelGrid, camera: Camera) -> torch.Tensor:
    """(K, 3) voxel coordinates (d, v, u) -> (K, 3) metres; arithmetic in float32."""
    return _launch(_backproject_kernel, positions, grid, camera)


def project_triton(xyz: torch.Tensor, grid: VoxelGrid, camera: Camera) -> torch.Tensor:
    """(K, 3) metres -> (K, 3) voxel coordinates (d, v, u); arithmetic in float32."""
    return _launch(_project_kernel, xyz, grid, camera)
