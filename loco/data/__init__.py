"""Data: a synthetic 3D people world (:mod:`loco.data.synthetic`) and loaders for JTA, CMU Panoptic and Human3.6M.

Submodules are imported on first use, so ``import loco.data`` does not compile the numba rasteriser.
"""

from __future__ import annotations

import importlib

__all__ = [
    "SyntheticScenes",
    "JTA",
    "Panoptic",
    "H36M",
    "DataFormatError",
    "synthetic",
    "body",
    "jta",
    "panoptic",
    "h36m",
]

_WHERE = {
    "SyntheticScenes": "loco.data.synthetic",
    "JTA": "loco.data.jta",
    "Panoptic": "loco.data.panoptic",
    "H36M": "loco.data.h36m",
    "DataFormatError": "loco.data._io",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    if name in ("synthetic", "body", "jta", "panoptic", "h36m", "raster"):
        return importlib.import_module(f"loco.data.{name}")
    raise AttributeError(f"module 'loco.data' has no attribute {name!r}")
