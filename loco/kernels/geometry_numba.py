"""Pinhole projection and back-projection between metres and voxel coordinates, numba (CPU).

Serial loops: a frame has hundreds of joints, far too few to pay for waking a thread pool."""

from __future__ import annotations

import math

import torch
from numba import njit

from loco.geometry import Camera, VoxelGrid


@njit(cache=True, nogil=True, error_model="numpy")
def _backproject_numba(pos, out, fx, fy, cx, cy, stride, min_depth, bin_size, distance):  # pragma: no cover
    for k in range(pos.shape[0]):
        rx = (pos[k, 2] * stride - cx) / fx
        ry = (pos[k, 1] * stride - cy) / fy
        depth = min_depth + pos[k, 0] * bin_size
        z = depth / math.sqrt(rx * rx + ry * ry + 1.0) if distance else depth
        out[k, 0] = rx * z
        out[k, 1] = ry * z
        out[k, 2] = z


@njit(cache=True, nogil=True, error_model="numpy")
def _project_numba(xyz, out, fx, fy, cx, cy, stride, min_depth, bin_size, distance):  # pragma: no cover
    for k in range(xyz.shape[0]):
        x, y, z = xyz[k, 0], xyz[k, 1], xyz[k, 2]
        depth = math.sqrt(x * x + y * y + z * z) if distance else z
        out[k, 0] = (depth - min_depth) / bin_size
        out[k, 1] = (fy * y / z + cy) / stride
        out[k, 2] = (fx * x / z + cx) / stride


def _launch(kernel, points: torch.Tensor, grid: VoxelGrid, camera: Camera) -> torch.Tensor:
    pts = points.detach().contiguous()
    if pts.dtype not in (torch.float32, torch.float64):
        pts = pts.to(torch.float32)
    out = torch.empty_like(pts)
    kernel(
        pts.numpy(),
        out.numpy(),
        camera.fx,
        camera.fy,
        camera.cx,
        camera.cy,
        float(grid.stride),
        grid.min_depth,
        grid.bin_size,
        grid.depth_mode == "distance",
    )
    return out.to(points.dtype)


def backproject_numba(positions: torch.Tensor, grid: VoxelGrid, camera: Camera) -> torch.Tensor:
    """(K, 3) voxel coordinates (d, v, u) -> (K, 3) metres; arithmetic in float64, output in the input dtype."""
    return _launch(_backproject_numba, positions, grid, camera)


def project_numba(xyz: torch.Tensor, grid: VoxelGrid, camera: Camera) -> torch.Tensor:
    """(K, 3) metres -> (K, 3) voxel coordinates (d, v, u); arithmetic in float64, output in the input dtype."""
    return _launch(_project_numba, xyz, grid, camera)
