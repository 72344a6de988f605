"""Kernels of the volumetric core, one module per op and backend.

``*_torch.py``: the readable reference, any device. ``*_numba.py``: parallel CPU kernels. ``*_triton.py``: CUDA
kernels (they also run on CPU tensors under ``TRITON_INTERPRET=1``, which the tests use).
"""

from loco.kernels._backend import BACKENDS, HAS_NUMBA, HAS_TRITON, resolve_backend

__all__ = ["BACKENDS", "HAS_NUMBA", "HAS_TRITON", "resolve_backend"]
