"""loco: multi-person 3D human pose estimation from one RGB image with compressed volumetric heatmaps (LoCO).

The volumetric core (:mod:`loco.ops`) renders Gaussian heatmaps sparsely, finds 6-connected peaks in one fused pass
and back-projects them, on Triton (CUDA), numba (CPU) or plain torch (the reference).
"""

from __future__ import annotations

import importlib

from loco.geometry import Camera, VoxelGrid
from loco.ops import Peaks, backproject, find_peaks, project, render_heatmaps

__version__ = "0.1.0"

__all__ = [
    "Camera",
    "VoxelGrid",
    "Peaks",
    "render_heatmaps",
    "find_peaks",
    "project",
    "backproject",
    "LoCO",
    "Prediction",
    "__version__",
]

# Public classes imported on first use (the pipeline pulls in the networks).
_LAZY_ATTRIBUTES = {"LoCO": "loco.pipeline", "Prediction": "loco.pipeline"}

# Submodules imported on first use, so `import loco` stays light.
_LAZY_SUBMODULES = (
    "ops",
    "kernels",
    "models",
    "data",
    "metrics",
    "association",
    "evaluate",
    "pipeline",
    "viz",
    "skeleton",
    "geometry",
    "cli",
    "testing",
)


def __getattr__(name: str):
    if name in _LAZY_ATTRIBUTES:
        return getattr(importlib.import_module(_LAZY_ATTRIBUTES[name]), name)
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"loco.{name}")
    raise AttributeError(f"module 'loco' has no attribute {name!r}")
