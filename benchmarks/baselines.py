"""The baselines the volumetric core is measured against, in one place.

Each is the straightforward way to do the job with a standard library; none is used by loco itself.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def peaks_torch_slicing(volume: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """6-neighbour local maxima with torch slicing (the original LoCO training-time check): (K, 5) indices."""
    v = volume
    m = v > threshold
    m[..., 1:, :, :] &= v[..., 1:, :, :] > v[..., :-1, :, :]
    m[..., :-1, :, :] &= v[..., :-1, :, :] > v[..., 1:, :, :]
    m[..., :, 1:, :] &= v[..., :, 1:, :] > v[..., :, :-1, :]
    m[..., :, :-1, :] &= v[..., :, :-1, :] > v[..., :, 1:, :]
    m[..., 1:] &= v[..., 1:] > v[..., :-1]
    m[..., :-1] &= v[..., :-1] > v[..., 1:]
    return m.nonzero()


def peaks_max_pool3d(volume: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """26-neighbour maxima (plateaus included) with ``max_pool3d`` (the original evaluation code): (K, 5)."""
    b, j, d, h, w = volume.shape
    pooled = F.max_pool3d(volume.view(b * j, d, h, w), kernel_size=3, stride=1, padding=1).view_as(volume)
    return ((volume == pooled) & (volume > threshold)).nonzero()


def peaks_scipy_maximum_filter(volume: np.ndarray, threshold: float = 0.1) -> np.ndarray:
    """26-neighbour maxima (plateaus included) with ``scipy.ndimage.maximum_filter``: (K, 5)."""
    from scipy.ndimage import maximum_filter

    pooled = maximum_filter(volume, size=(1, 1, 3, 3, 3), mode="constant", cval=-np.inf)
    return np.argwhere((volume == pooled) & (volume > threshold))


def render_dense_torch(
    centers: torch.Tensor, joints: torch.Tensor, shape: tuple[int, int, int, int], sigma: float = 2.0
) -> torch.Tensor:
    """Dense rendering: every centre evaluated on the whole volume, then a max (what a naive port does)."""
    j_, d_, h_, w_ = shape
    out = torch.zeros(1, j_, d_, h_, w_)
    dd = torch.arange(d_, dtype=torch.float32)[:, None, None]
    vv = torch.arange(h_, dtype=torch.float32)[None, :, None]
    uu = torch.arange(w_, dtype=torch.float32)[None, None, :]
    radius = int(2.5 * sigma)
    for (cd, cv, cu), j in zip(centers.tolist(), joints.tolist()):
        r2 = (dd - cd) ** 2 + (vv - cv) ** 2 + (uu - cu) ** 2
        inside = ((dd - cd).abs() <= radius) & ((vv - cv).abs() <= radius) & ((uu - cu).abs() <= radius)
        torch.maximum(out[0, j], torch.where(inside, torch.exp(-r2 / sigma**2), 0.0), out=out[0, j])
    return out
