"""Render -> find_peaks -> backproject on a JTA-sized crowd of 60 people (14 x 316 x 136 x 240)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from loco import Camera, VoxelGrid, ops
from loco.testing import crowd_centers, random_crowd


@pytest.fixture(scope="module")
def crowd():
    grid, cam = VoxelGrid.jta(), Camera.jta()
    poses = random_crowd(60, seed=7, camera=cam, grid=grid)
    centers, joints = crowd_centers(poses, grid, cam)
    volume = ops.render_heatmaps(centers, joints, grid)  # continuous centres, sigma 2
    return grid, cam, poses, centers, joints, volume


def match_errors(peaks: ops.Peaks, xyz: torch.Tensor, poses: torch.Tensor) -> torch.Tensor:
    """For every ground-truth joint, the 3D distance to the nearest detected joint of its type."""
    errors = []
    for j in range(poses.shape[1]):
        found = xyz[peaks.joint == j].double()
        assert found.shape[0] == poses.shape[0], f"joint {j}: {found.shape[0]} peaks for {poses.shape[0]} people"
        errors.append(torch.cdist(poses[:, j], found).min(dim=1).values)
    return torch.cat(errors)


@pytest.mark.slow
def test_refined_peaks_recover_every_joint_within_5mm(crowd):
    grid, cam, poses, _, _, volume = crowd
    peaks = ops.find_peaks(volume, refine="gaussian")
    assert len(peaks) == 60 * 14
    err = match_errors(peaks, ops.backproject(peaks.position, grid, cam), poses)
    assert err.mean() < 0.005, f"mean 3D error {err.mean():.4f} m"
    assert err.max() < 0.05


@pytest.mark.slow
def test_integer_peaks_have_the_original_quantisation_error(crowd):
    grid, cam, poses, _, _, volume = crowd
    peaks = ops.find_peaks(volume)
    assert len(peaks) == 60 * 14
    err = match_errors(peaks, ops.backproject(peaks.position, grid, cam), poses)
    # half a depth bin is 0.16 m; the mean over uniform sub-voxel positions is ~8-10 cm
    assert 0.05 < err.mean() < 0.15, f"mean 3D error {err.mean():.4f} m"


@pytest.mark.slow
def test_backends_agree_at_full_size(crowd):
    grid, _, _, centers, joints, volume = crowd
    ref = ops.find_peaks(volume, refine="gaussian", backend="torch")
    got = ops.find_peaks(volume, refine="gaussian", backend="numba")
    torch.testing.assert_close(got.index, ref.index, rtol=0, atol=0)
    torch.testing.assert_close(got.position, ref.position, rtol=0, atol=1e-5)
    rendered = ops.render_heatmaps(centers, joints, grid, backend="torch")
    torch.testing.assert_close(rendered, volume, rtol=0, atol=1e-6)


@pytest.mark.slow
def test_numba_peaks_past_2_31_elements():
    """A batch of 16 JTA volumes (2.3e9 elements): indices past 2^31 come back exact. The volume is an anonymous
    mapping: reads of untouched pages see the kernel's zero page, so only the pages written below take memory."""
    import mmap

    from loco.kernels import HAS_NUMBA

    if not HAS_NUMBA:
        pytest.skip("numba not installed")
    shape = (16, 14, 316, 136, 240)
    buffer = mmap.mmap(-1, 4 * int(np.prod(shape)), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    volume = torch.from_numpy(np.frombuffer(buffer, dtype=np.float32).reshape(shape))
    assert volume.numel() > 2**31
    spots = torch.tensor([[15, 13, 315, 135, 239], [15, 0, 7, 100, 3], [9, 5, 200, 60, 120], [0, 0, 0, 0, 0]])
    for b, j, d, v, u in spots.tolist():
        volume[b, j, d, v, u] = 0.5 + 0.01 * j
    peaks = ops.find_peaks(volume, backend="numba")
    got = torch.cat([peaks.batch[:, None], peaks.joint[:, None], peaks.index], dim=1)
    want = spots[torch.argsort(spots[:, 0] * 14 + spots[:, 1])]
    torch.testing.assert_close(got, want, rtol=0, atol=0)
