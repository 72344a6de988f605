"""Backend availability and selection, shared by every op."""

from __future__ import annotations

import os
from contextlib import contextmanager

import torch

from loco._checks import check_choice

try:
    import triton  # noqa: F401

    HAS_TRITON = True
except ImportError:  # pragma: no cover - depends on the environment
    HAS_TRITON = False

try:
    import numba  # noqa: F401

    HAS_NUMBA = True
except ImportError:  # pragma: no cover - depends on the environment
    HAS_NUMBA = False

BACKENDS = ("auto", "triton", "numba", "torch")


@contextmanager
def numba_threads():
    """Run numba's parallel loops on torch's intra-op thread count and leave that count as it was.

    numba's OpenMP threading layer shares the process's OpenMP runtime with torch: a parallel launch sets the OpenMP
    thread count to numba's own (every core), which silently changed ``torch.get_num_threads()`` (a run with
    ``threads=1`` went on with 2 threads after its first render, and its float reductions no longer repeated bit for
    bit). Inside this block numba uses ``min(torch.get_num_threads(), NUMBA_NUM_THREADS)`` threads.
    """
    import numba

    n = torch.get_num_threads()
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)


def triton_interpreted() -> bool:
    """True when Triton kernels run in the CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def resolve_backend(backend: str, device: torch.device) -> str:
    """Map ``backend`` (``"auto"`` included) to the backend that will run on ``device``.

    ``auto``: CUDA -> triton, CPU -> numba, falling back to torch where the package is missing; the environment
    variable ``LOCO_BACKEND`` overrides ``auto``. An explicit backend that cannot run raises ``RuntimeError``.
    """
    check_choice("backend", backend, BACKENDS)
    if backend == "auto":
        env = os.environ.get("LOCO_BACKEND", "").strip().lower()
        if env and env != "auto":
            if env not in BACKENDS:
                raise ValueError(f"LOCO_BACKEND must be one of {BACKENDS}, got {env!r}")
            backend = env
        elif device.type == "cuda":
            return "triton" if HAS_TRITON else "torch"
        elif device.type == "cpu":
            return "numba" if HAS_NUMBA else "torch"
        else:
            return "torch"
    if backend == "triton":
        if not HAS_TRITON:
            raise RuntimeError("backend='triton' needs the triton package: pip install 'loco[triton]'")
        if device.type != "cuda" and not (device.type == "cpu" and triton_interpreted()):
            raise RuntimeError(
                f"backend='triton' needs CUDA tensors (or TRITON_INTERPRET=1 for CPU tensors), got device {device}"
            )
    elif backend == "numba":
        if not HAS_NUMBA:
            raise RuntimeError("backend='numba' needs the numba package: pip install numba")
        if device.type != "cpu":
            raise RuntimeError(f"backend='numba' runs on CPU tensors only, got device {device}")
    return backend
