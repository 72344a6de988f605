"""Launch helpers shared by the Triton kernels."""

from __future__ import annotations

import triton

from loco.kernels._backend import triton_interpreted


def block_size(work: int, gpu: int = 1024, interpreter_max: int = 1 << 14) -> int:
    """Elements per program: ``gpu`` on a GPU; under the interpreter, which runs programs one after another, as
    large as the work (a power of two, at most ``interpreter_max``)."""
    if triton_interpreted():
        return max(1, min(interpreter_max, triton.next_power_of_2(max(int(work), 1))))
    return gpu
