"""Camera, VoxelGrid and (back-)projection: exact inverses, the original JTA formula, backends against torch."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import cameras, grids

from loco import Camera, VoxelGrid, ops
from loco.geometry import backproject, project
from loco.kernels import HAS_NUMBA, HAS_TRITON

BACKENDS = [
    pytest.param("numba", marks=pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")),
    pytest.param("triton", marks=pytest.mark.skipif(not HAS_TRITON, reason="triton not installed")),
]


def test_presets():
    g = VoxelGrid.jta()
    assert g.shape == (316, 136, 240) and g.stride == 8 and g.depth_mode == "distance"
    assert g.bin_size == pytest.approx(100 / 315)
    assert VoxelGrid.panoptic().max_depth == 7 and VoxelGrid.panoptic().depth_mode == "z"
    assert (VoxelGrid.h36m().min_depth, VoxelGrid.h36m().max_depth) == (1.8, 8.1)
    assert VoxelGrid.for_image(1080, 1920).shape == (316, 135, 240)
    assert Camera.jta() == Camera(1158, 1158, 960, 540)
    assert Camera.from_fov(1920, 1080).fx == pytest.approx(1158, rel=1e-12)
    assert Camera.jta().scaled(0.5) == Camera(579, 579, 480, 270)


def original_to3d(u, v, d, camera: Camera, grid: VoxelGrid):
    """The original LoCO ``to3d`` (JTA, Euclidean distance), scalar."""
    x2d, y2d = u * grid.stride, v * grid.stride
    cam_dist = grid.min_depth + d * grid.bin_size
    fx, fy, cx, cy = camera.fx, camera.fy, camera.cx, camera.cy
    k = -math.sqrt(fx**2 * fy**2 + fx**2 * (cy - y2d) ** 2 + fy**2 * (cx - x2d) ** 2)
    return ((fy * cam_dist * (cx - x2d)) / k, (fx * cy * cam_dist - fx * cam_dist * y2d) / k, -(fx * fy * cam_dist) / k)


def test_backproject_matches_original_formula():
    grid, cam = VoxelGrid.jta(), Camera.jta()
    pos = torch.tensor([[10.0, 20.0, 30.0], [315.0, 135.0, 239.0], [0.5, 67.5, 120.0]], dtype=torch.float64)
    want = torch.tensor([original_to3d(u, v, d, cam, grid) for d, v, u in pos.tolist()], dtype=torch.float64)
    torch.testing.assert_close(backproject(pos, grid, cam), want, rtol=1e-12, atol=1e-12)


@settings(deadline=None, max_examples=100)
@given(grid=grids(), camera=cameras(), seed=st.integers(0, 2**31))
def test_project_backproject_are_inverses(grid, camera, seed):
    g = torch.Generator().manual_seed(seed)
    xyz = torch.rand(16, 3, generator=g, dtype=torch.float64) * torch.tensor([20.0, 10.0, 50.0]) + torch.tensor(
        [-10.0, -5.0, 0.5]
    )
    torch.testing.assert_close(backproject(project(xyz, grid, camera), grid, camera), xyz, rtol=1e-9, atol=1e-9)
    pos = project(xyz, grid, camera)
    torch.testing.assert_close(project(backproject(pos, grid, camera), grid, camera), pos, rtol=1e-9, atol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["distance", "z"])
def test_backends_match_reference(backend, mode):
    grid, cam = VoxelGrid.jta(depth_mode=mode), Camera.jta()
    torch.manual_seed(0)
    xyz = torch.rand(257, 3) * torch.tensor([20.0, 10.0, 80.0]) + torch.tensor([-10.0, -5.0, 1.0])
    pos = ops.project(xyz, grid, cam, backend="torch")
    torch.testing.assert_close(ops.project(xyz, grid, cam, backend=backend), pos, rtol=1e-5, atol=1e-4)
    back = ops.backproject(pos, grid, cam, backend=backend)
    torch.testing.assert_close(back, ops.backproject(pos, grid, cam, backend="torch"), rtol=1e-5, atol=1e-5)
    assert back.dtype == torch.float32
    assert ops.backproject(torch.zeros(0, 3), grid, cam, backend=backend).shape == (0, 3)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(depth_bins=1), ValueError),
        (dict(min_depth=5.0, max_depth=5.0), ValueError),
        (dict(depth_mode="disparity"), ValueError),
        (dict(height=0), ValueError),
        (dict(width=2.5), TypeError),
        (dict(stride=True), TypeError),
        (dict(min_depth="0"), TypeError),
    ],
)
def test_voxel_grid_rejects_bad_values(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs)).split("_")[0]):
        VoxelGrid.jta(**kwargs)


def test_grid_and_camera_store_python_numbers():
    """numpy scalars are accepted and stored as Python ints / floats, so configs written to JSON stay plain."""
    grid = VoxelGrid.jta(depth_bins=np.int64(40), height=np.int32(17), width=np.int64(30), min_depth=np.float32(1))
    assert grid == VoxelGrid.jta(depth_bins=40, height=17, width=30, min_depth=1.0)
    types = [type(getattr(grid, k)) for k in ("depth_bins", "height", "width", "stride", "min_depth")]
    assert types == [int] * 4 + [float]
    cam = Camera(np.float32(1158), 1158, np.int64(960), 540.0)
    assert cam == Camera.jta() and all(type(v) is float for v in (cam.fx, cam.fy, cam.cx, cam.cy))
    json.dumps([grid.to_dict(), cam.to_dict()])


def test_camera_rejects_bad_values():
    with pytest.raises(ValueError, match="focal"):
        Camera(0, 1, 0, 0)
    with pytest.raises(ValueError, match="cx"):
        Camera(1, 1, float("nan"), 0)
    with pytest.raises(TypeError, match="fy"):
        Camera(1, "1", 0, 0)


def test_constructors_check_their_own_arguments():
    """from_fov, scaled and for_image name the argument the caller passed, not a field of what they would build."""
    assert Camera.from_fov(np.int64(1920), 1080, np.float32(60)) == Camera.from_fov(1920, 1080, 60.0)
    assert VoxelGrid.for_image(np.int64(1080), 1920) == VoxelGrid.for_image(1080, 1920)
    bad = [
        (lambda: Camera.from_fov(-1920, 1080), ValueError, "width"),
        (lambda: Camera.from_fov(1920, float("inf")), ValueError, "height"),
        (lambda: Camera.from_fov(1920, 1080, "60"), TypeError, "hfov_deg"),
        (lambda: Camera.from_fov(1920, 1080, 180), ValueError, "hfov_deg"),
        (lambda: Camera.jta().scaled(0), ValueError, "sx"),
        (lambda: Camera.jta().scaled(0.5, -1), ValueError, "sy"),
        (lambda: VoxelGrid.for_image(-5, 100), ValueError, "height must be >= 1, got -5"),
        (lambda: VoxelGrid.for_image(100, 100.5), TypeError, "width"),
        (lambda: VoxelGrid.for_image(100, 100, stride=0), ValueError, "stride"),
    ]
    for call, error, match in bad:
        with pytest.raises(error, match=match):
            call()
