"""The volumetric core on the JTA volume (14x316x136x240 fp32, 60 people), every CPU backend beside the baselines
and the physical floors, in one run: ``pytest benchmarks/ --benchmark-only``.

Floors: ``volume.amax()`` reads the 577 MB volume once; ``out.zero_()`` writes it once. Slow baselines run a few
rounds only (``pedantic``) so the suite stays within minutes.
"""

from __future__ import annotations

import pytest
import torch
from baselines import (
    peaks_max_pool3d,
    peaks_scipy_maximum_filter,
    peaks_torch_slicing,
    render_dense_torch,
)

from loco import ops
from loco.kernels import HAS_NUMBA

CPU_BACKENDS = ["numba", "torch"] if HAS_NUMBA else ["torch"]


@pytest.mark.benchmark(group="peaks")
def test_floor_read_amax(benchmark, jta):
    volume = jta[4]
    benchmark(volume.amax)


@pytest.mark.benchmark(group="peaks")
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_find_peaks(benchmark, jta, backend):
    volume = jta[4]
    ops.find_peaks(volume, refine="gaussian", backend=backend)  # compile / warm up
    peaks = benchmark(ops.find_peaks, volume, refine="gaussian", backend=backend)
    assert len(peaks) == 60 * 14


@pytest.mark.benchmark(group="peaks")
def test_find_peaks_integer_numba(benchmark, jta):
    if not HAS_NUMBA:
        pytest.skip("numba not installed")
    peaks = benchmark(ops.find_peaks, jta[4], backend="numba")
    assert len(peaks) == 60 * 14


@pytest.mark.benchmark(group="peaks")
def test_baseline_torch_slicing(benchmark, jta):
    volume = jta[4]
    found = benchmark.pedantic(peaks_torch_slicing, args=(volume,), rounds=3, iterations=1)
    assert found.shape[0] == 60 * 14


@pytest.mark.benchmark(group="peaks")
def test_baseline_max_pool3d(benchmark, jta):
    volume = jta[4]
    found = benchmark.pedantic(peaks_max_pool3d, args=(volume,), rounds=1, iterations=1)
    assert found.shape[0] == 60 * 14


@pytest.mark.benchmark(group="peaks")
def test_baseline_scipy_maximum_filter(benchmark, jta):
    volume = jta[4].numpy()
    found = benchmark.pedantic(peaks_scipy_maximum_filter, args=(volume,), rounds=1, iterations=1)
    assert found.shape[0] == 60 * 14


@pytest.mark.benchmark(group="render")
def test_floor_write_zero(benchmark, jta):
    out = torch.empty_like(jta[4])
    benchmark(out.zero_)


@pytest.mark.benchmark(group="render")
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_render_heatmaps(benchmark, jta, backend):
    grid, _, centers, joints, volume = jta
    out = torch.empty_like(volume)
    ops.render_heatmaps(centers, joints, grid, out=out, backend=backend)  # compile / warm up
    benchmark(ops.render_heatmaps, centers, joints, grid, out=out, backend=backend)
    torch.testing.assert_close(out, volume, rtol=0, atol=1e-6)


@pytest.mark.benchmark(group="render-reduced")
def test_baseline_render_dense_reduced(benchmark, jta):
    """Dense rendering at a reduced size (6 people, depth 316 x 68 x 120): a full-size run takes ~50 s."""
    grid, _, centers, joints, _ = jta
    small = centers[: 6 * 14] * torch.tensor([1.0, 0.5, 0.5])
    shape = (14, 316, 68, 120)
    benchmark.pedantic(render_dense_torch, args=(small, joints[: 6 * 14], shape), rounds=1, iterations=1)


@pytest.mark.benchmark(group="render-reduced")
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_render_reduced(benchmark, jta, backend):
    grid, _, centers, joints, _ = jta
    small = centers[: 6 * 14] * torch.tensor([1.0, 0.5, 0.5])
    benchmark(ops.render_heatmaps, small, joints[: 6 * 14], (14, 316, 68, 120), backend=backend)


@pytest.mark.benchmark(group="backproject")
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_backproject(benchmark, jta, backend):
    grid, cam, _, _, volume = jta
    positions = ops.find_peaks(volume, refine="gaussian").position
    ops.backproject(positions, grid, cam, backend=backend)
    benchmark(ops.backproject, positions, grid, cam, backend=backend)
