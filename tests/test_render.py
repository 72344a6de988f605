"""render_heatmaps: the reference against a dense brute force of the definition, every backend against it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from strategies import joint_sets

from loco import VoxelGrid, ops
from loco.kernels import HAS_NUMBA, HAS_TRITON

BACKENDS = [
    pytest.param("numba", marks=pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")),
    pytest.param("triton", marks=pytest.mark.skipif(not HAS_TRITON, reason="triton not installed")),
]
EXAMPLES = {"numba": 60, "triton": 20}
# exp() differs by an ulp or two between torch, numba (libm) and Triton.
ATOL = 1e-6


def dense_definition(centers, joints, batch, shape, sigma, radius=None, snap=False) -> np.ndarray:
    """Every voxel against every centre, in float64: the contract, written the slow way."""
    b_, j_, d_, h_, w_ = shape
    radius = math.floor(2.5 * sigma) if radius is None else radius
    grid = np.stack(np.meshgrid(np.arange(d_), np.arange(h_), np.arange(w_), indexing="ij"), -1).astype(np.float64)
    out = np.zeros(shape)
    for c, j, b in zip(centers.double().numpy(), joints.numpy(), batch.numpy()):
        c = np.float32(c).astype(np.float64)
        if snap:
            c = np.round(c)
        if not np.isfinite(c).all():
            continue
        diff = grid - c
        inside = (np.abs(diff) <= radius).all(-1)
        val = np.where(inside, np.exp(-(diff**2).sum(-1) / sigma**2), 0.0)
        out[b, j] = np.maximum(out[b, j], val)
    return out


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(case=joint_sets())
def test_reference_matches_definition(case):
    centers, joints, batch, shape, sigma = case
    got = ops.render_heatmaps(
        centers, joints, shape[1:], batch_index=batch, batch_size=shape[0], sigma=sigma, backend="torch"
    )
    np.testing.assert_allclose(got.numpy(), dense_definition(centers, joints, batch, shape, sigma), atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_matches_reference(backend):
    @settings(deadline=None, max_examples=EXAMPLES[backend], suppress_health_check=[HealthCheck.too_slow])
    @given(case=joint_sets())
    def check(case):
        centers, joints, batch, shape, sigma = case
        kwargs = dict(batch_index=batch, batch_size=shape[0], sigma=sigma)
        ref = ops.render_heatmaps(centers, joints, shape[1:], backend="torch", **kwargs)
        out = torch.full(shape, float("nan"))  # poisoned: every voxel must be written
        got = ops.render_heatmaps(centers, joints, shape[1:], out=out, backend=backend, **kwargs)
        assert got.data_ptr() == out.data_ptr()
        torch.testing.assert_close(got, ref, rtol=0, atol=ATOL)

    check()


@pytest.mark.parametrize("backend", ["torch", *BACKENDS])
def test_snap_radius_and_clipping(backend):
    centers = torch.tensor([[1.4, 2.6, -1.2], [3.0, 3.0, 3.0], [float("nan"), 1.0, 1.0], [50.0, 1.0, 1.0]])
    joints = torch.tensor([0, 1, 0, 1])
    shape = (1, 2, 5, 6, 7)
    for snap in (False, True):
        for radius in (None, 1, 0):
            got = ops.render_heatmaps(centers, joints, shape[1:], sigma=1.3, radius=radius, snap=snap, backend=backend)
            want = dense_definition(centers, joints, torch.zeros(4, dtype=torch.long), shape, 1.3, radius, snap)
            np.testing.assert_allclose(got.numpy(), want, atol=ATOL)
    snapped = ops.render_heatmaps(centers[:1], joints[:1], (2, 5, 6, 7), snap=True, backend=backend)
    # (1.4, 2.6, -1.2) rounds to (1, 3, -1): outside the volume, but its clipped cube is rendered
    assert snapped[0, 0, 1, 3, 0].item() == pytest.approx(math.exp(-1 / 4), abs=1e-7)


@pytest.mark.parametrize("backend", ["torch", *BACKENDS])
def test_coinciding_joints_aggregate_by_max(backend):
    centers = torch.tensor([[2.0, 2.0, 2.0], [2.0, 2.0, 2.0], [2.0, 2.0, 3.0]])
    got = ops.render_heatmaps(centers, torch.zeros(3, dtype=torch.long), (1, 5, 5, 6), sigma=1.0, backend=backend)
    assert got.max() == 1.0
    assert got[0, 0, 2, 2, 2] == 1.0 and got[0, 0, 2, 2, 3] == 1.0  # max, not sum
    assert got[0, 0, 2, 2, 4].item() == pytest.approx(math.exp(-1.0), abs=1e-7)


@pytest.mark.parametrize("backend", ["torch", *BACKENDS])
def test_grid_and_default_batch(backend):
    grid = VoxelGrid(depth_bins=6, min_depth=0, max_depth=5, height=4, width=5)
    got = ops.render_heatmaps(torch.tensor([[1.0, 1.0, 1.0]]), torch.tensor([13]), grid, backend=backend)
    assert got.shape == (1, 14, 6, 4, 5) and got.dtype == torch.float32
    assert got[0, 13, 1, 1, 1] == 1.0 and got[0, :13].abs().sum() == 0
    empty = ops.render_heatmaps(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), (2, 3, 4, 5), backend=backend)
    assert empty.shape == (1, 2, 3, 4, 5) and empty.abs().sum() == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_large_sigma_matches_reference(backend):
    torch.manual_seed(3)
    centers = torch.rand(6, 3) * torch.tensor([9.0, 10.0, 11.0])
    joints = torch.randint(0, 2, (6,))
    ref = ops.render_heatmaps(centers, joints, (2, 9, 10, 11), sigma=4.0, backend="torch")
    got = ops.render_heatmaps(centers, joints, (2, 9, 10, 11), sigma=4.0, backend=backend)
    torch.testing.assert_close(got, ref, rtol=0, atol=ATOL)


@pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")
@pytest.mark.parametrize("threads", [1, 2])
def test_numba_kernels_leave_torch_threads_alone(threads):
    """numba's OpenMP layer used to reset torch's thread count to every core on its first parallel launch."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        centers = torch.tensor([[5.0, 4.0, 6.0], [12.0, 8.0, 3.0]])
        vol = ops.render_heatmaps(centers, torch.tensor([0, 1]), (2, 20, 12, 16), sigma=2.0, backend="numba")
        assert torch.get_num_threads() == threads
        peaks = ops.find_peaks(vol, threshold=0.1, backend="numba")
        assert torch.get_num_threads() == threads
        assert len(peaks.joint) == 2
    finally:
        torch.set_num_threads(before)
