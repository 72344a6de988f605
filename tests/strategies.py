"""Hypothesis strategies for the volumetric core: small odd-sized volumes with ties, plateaus, borders and NaN, and
joint sets with centres on borders, outside the volume, non-finite or coinciding."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st

from loco.geometry import Camera, VoxelGrid

dims = st.integers(min_value=1, max_value=9)


@st.composite
def volume_shapes(draw, max_batch: int = 2, max_joints: int = 3):
    """(B, J, D, H, W) with small, mostly odd, non-power-of-two sizes."""
    return (
        draw(st.integers(1, max_batch)),
        draw(st.integers(1, max_joints)),
        draw(dims),
        draw(dims),
        draw(dims),
    )


@st.composite
def volumes(draw, max_batch: int = 2, max_joints: int = 3):
    """A float32 (B, J, D, H, W) volume: random values, optionally quantised (exact ties and plateaus), with zeros,
    constant blocks and NaN sprinkled in on purpose."""
    shape = draw(volume_shapes(max_batch, max_joints))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    vol = rng.random(shape, dtype=np.float32)
    style = draw(st.sampled_from(["random", "quantised", "sparse", "plateau", "empty"]))
    if style == "quantised":
        vol = np.round(vol * 4) / 4
    elif style == "sparse":
        vol = np.where(rng.random(shape) < 0.2, vol, 0).astype(np.float32)
    elif style == "plateau":
        vol[..., : max(1, shape[-3] // 2), :, :] = 0.5
    elif style == "empty":
        vol[:] = 0
    if draw(st.booleans()):
        vol[rng.random(shape) < 0.05] = np.nan
    return torch.from_numpy(np.ascontiguousarray(vol, dtype=np.float32))


@st.composite
def joint_sets(draw, max_k: int = 12):
    """(centers (K, 3) float32, joint_types (K,), batch_index (K,), shape (B, J, D, H, W), sigma)."""
    shape = draw(volume_shapes())
    b, j, d, h, w = shape
    k = draw(st.integers(0, max_k))
    extent = np.array([d, h, w], dtype=np.float32)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-3, extent + 2, size=(k, 3)).astype(np.float32)
    if k:
        kinds = rng.integers(0, 5, size=k)
        centers[kinds == 1] = np.round(centers[kinds == 1])  # on voxel centres
        centers[kinds == 2] = np.nan  # missing joints
        if k > 1:
            centers[kinds == 3] = centers[0]  # coinciding joints
        centers[kinds == 4, 0] = np.where(rng.random((kinds == 4).sum()) < 0.5, -0.4, extent[0] - 0.6)  # borders
    if draw(st.booleans()) and k:
        centers[rng.integers(0, k)] = np.inf
    joints = rng.integers(0, j, size=k)
    batch = rng.integers(0, b, size=k)
    sigma = draw(st.sampled_from([0.5, 1.0, 1.5, 2.0]))
    return (
        torch.from_numpy(centers.astype(np.float32)),
        torch.from_numpy(joints),
        torch.from_numpy(batch),
        shape,
        sigma,
    )


@st.composite
def cameras(draw):
    f = draw(st.floats(200, 3000))
    return Camera(f, f * draw(st.floats(0.9, 1.1)), draw(st.floats(0, 2000)), draw(st.floats(0, 1200)))


@st.composite
def grids(draw):
    lo = draw(st.floats(0, 5))
    return VoxelGrid(
        depth_bins=draw(st.integers(2, 400)),
        min_depth=lo,
        max_depth=lo + draw(st.floats(1, 100)),
        height=draw(st.integers(1, 200)),
        width=draw(st.integers(1, 300)),
        stride=draw(st.sampled_from([1, 4, 8])),
        depth_mode=draw(st.sampled_from(["distance", "z"])),
    )
