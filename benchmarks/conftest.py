"""Benchmark setup: real sizes (the JTA volume 14x316x136x240 fp32 with 60 people), versions in the JSON, and a
closing table of each kernel's time against its physical floor measured in the same run."""

from __future__ import annotations

import os
import platform
import subprocess

import pytest
import torch

from loco import Camera, VoxelGrid, ops
from loco.testing import crowd_centers, random_crowd

N_PEOPLE = 60


@pytest.fixture(scope="session")
def jta():
    """(grid, camera, centers, joints, volume): 60 people rendered with continuous centres, sigma 2."""
    grid, cam = VoxelGrid.jta(), Camera.jta()
    poses = random_crowd(N_PEOPLE, seed=0, camera=cam, grid=grid)
    centers, joints = crowd_centers(poses, grid, cam)
    volume = ops.render_heatmaps(centers, joints, grid, backend="auto")
    return grid, cam, centers, joints, volume


def _commit() -> str:
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def pytest_benchmark_update_json(config, benchmarks, output_json):
    import numba
    import numpy

    output_json["loco"] = {
        "commit": _commit(),
        "torch": torch.__version__,
        "numba": numba.__version__,
        "numpy": numpy.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


# (kernel benchmark name, floor or baseline benchmark name, label)
RATIOS = [
    ("test_find_peaks[numba]", "test_floor_read_amax", "numba find_peaks / one read (amax)"),
    ("test_baseline_torch_slicing", "test_find_peaks[numba]", "torch slicing / numba find_peaks"),
    ("test_find_peaks[torch]", "test_find_peaks[numba]", "torch reference / numba find_peaks"),
    ("test_render_heatmaps[numba]", "test_floor_write_zero", "numba render / one write (zero_)"),
]


def pytest_terminal_summary(terminalreporter, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    median = {b.name: b.stats.median for b in session.benchmarks if getattr(b, "stats", None)}
    lines = []
    for num, den, label in RATIOS:
        if num in median and den in median:
            lines.append(
                f"  {label:<42} {median[num] / median[den]:6.2f}x  ({median[num] * 1e3:8.1f} ms / "
                f"{median[den] * 1e3:8.1f} ms)"
            )
    if lines:
        terminalreporter.write_sep("-", "loco: medians relative to the floor / baseline, same run")
        for line in lines:
            terminalreporter.write_line(line)
