"""Memory-lean decoding on the JTA grid: ``decode_peaks`` (a joint at a time) vs decoding the whole volume.

Time: pytest-benchmark, both paths in the same run, same code, same model (random VHA v2 weights: the decoder's
cost does not depend on the values). Memory: each path runs once in a fresh Python process that builds the model
and the code, warms the libraries up on a small code, then resets the kernel's peak-RSS counter
(``echo 5 > /proc/self/clear_refs``) and reads ``VmRSS``; after the path, ``VmHWM`` (peak resident set) minus that
``VmRSS`` is the memory the path added, everything included: torch's CPU allocations, oneDNN scratch buffers, the
peak search and its output. Figures land in the benchmark JSON's ``extra_info`` (``peak_added_mb``, ``peaks``).

Run: ``pytest benchmarks/test_bench_decode.py --benchmark-only`` (about three minutes on 2 cores).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from loco.geometry import VoxelGrid
from loco.models import VHA, decode_peaks
from loco.ops import find_peaks

GRID = VoxelGrid.jta()  # 14 x 316 x 136 x 240: 0.58 GB of float32 per image
THRESHOLD = 0.1
PATHS = ("decode_peaks", "whole_volume")


def _setup() -> tuple[VHA, torch.Tensor]:
    torch.manual_seed(0)
    vha = VHA(2).eval()
    code = torch.rand(1, *vha.code_shape(GRID))
    return vha, code


@torch.no_grad()
def _run(path: str, vha: VHA, code: torch.Tensor, grid=GRID):
    if path == "decode_peaks":
        return decode_peaks(vha, code, grid, joints_per_chunk=1, threshold=THRESHOLD)
    return find_peaks(vha.decode(code, grid), threshold=THRESHOLD)


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024  # kB
    raise RuntimeError(f"{field} not in /proc/self/status")


def _worker(path: str) -> dict:
    vha, code = _setup()
    _run(path, vha, code[..., :4, :4], grid=(16, 16))  # load oneDNN kernels, numba caches, etc.
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status("VmRSS")
    peaks = _run(path, vha, code)
    added = _status("VmHWM") - before
    return {"peak_added_mb": added / 2**20, "baseline_rss_mb": before / 2**20, "peaks": len(peaks)}


def _measure_memory(path: str) -> dict:
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("peak-RSS measurement needs Linux /proc/self/clear_refs")
    out = subprocess.run(
        [sys.executable, __file__, path], capture_output=True, text=True, check=True, env={**os.environ}
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("path", PATHS)
def test_decode_jta(benchmark, path):
    memory = _measure_memory(path)
    benchmark.extra_info.update(memory, grid=list(GRID.shape), joints=14, threads=torch.get_num_threads())
    vha, code = _setup()
    _run(path, vha, code[..., :4, :4], grid=(16, 16))  # JIT-compile the peak search outside the timed rounds
    peaks = benchmark.pedantic(_run, args=(path, vha, code), rounds=2, iterations=1, warmup_rounds=0)
    assert len(peaks) == memory["peaks"]


if __name__ == "__main__":
    print(json.dumps(_worker(sys.argv[1])))
