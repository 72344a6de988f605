"""The volumetric core: sparse Gaussian heatmap rendering, fused peak search, and (back-)projection.

Every op takes ``backend="auto" | "triton" | "numba" | "torch"``; ``auto`` picks Triton for CUDA tensors, numba
for CPU tensors and falls back to torch where the package is missing; the environment variable ``LOCO_BACKEND``
overrides ``auto``. All backends compute the same function; the torch one is the readable reference.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from loco import geometry
from loco._checks import check_bool, check_choice, check_int, check_positive, check_real, check_shape
from loco.geometry import Camera, VoxelGrid
from loco.kernels._backend import resolve_backend
from loco.skeleton import NUM_JOINTS

__all__ = ["Peaks", "render_heatmaps", "find_peaks", "project", "backproject"]

_TIES = ("strict", "plateau")
_REFINE = (None, "gaussian", "quadratic")
_CONNECTIVITY = (6, 26)


class Peaks(NamedTuple):
    """Peaks of a batch of volumetric heatmaps, sorted by batch, joint, descending score, then index.

    Attributes:
        batch: (K,) int64 batch element.
        joint: (K,) int64 joint type (channel).
        index: (K, 3) int64 integer voxel ``(d, v, u)``.
        position: (K, 3) float32 sub-voxel ``(d, v, u)`` (equal to ``index`` without refinement).
        score: (K,) float32 heatmap value at ``index``.
    """

    batch: torch.Tensor
    joint: torch.Tensor
    index: torch.Tensor
    position: torch.Tensor
    score: torch.Tensor

    def __len__(self) -> int:  # the number of peaks, not the number of fields
        return int(self.score.shape[0])

    def select(self, mask: torch.Tensor) -> Peaks:
        """The peaks where the boolean ``mask`` (K,) is true."""
        return Peaks(*(t[mask] for t in self))

    def to(self, device) -> Peaks:
        return Peaks(*(t.to(device) for t in self))


def _check_tensor(name: str, x, ndim: int | None = None) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(x.shape)}")
    return x


def _check_int_tensor(name: str, x: torch.Tensor) -> None:
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, got dtype {x.dtype}")


def _volume_shape(grid_or_shape, num_joints: int) -> tuple[int, int, int, int]:
    if isinstance(grid_or_shape, VoxelGrid):
        return (num_joints, *grid_or_shape.shape)
    if isinstance(grid_or_shape, (tuple, list)) and len(grid_or_shape) in (3, 4):  # torch.Size is a tuple
        shape = check_shape("grid_or_shape", grid_or_shape, 1, "(D, H, W) or (J, D, H, W)", (3, 4))
        return shape if len(shape) == 4 else (num_joints, *shape)
    raise TypeError(
        f"grid_or_shape must be a VoxelGrid or a (D, H, W) / (J, D, H, W) shape, got {type(grid_or_shape).__name__}"
    )


def render_heatmaps(
    centers: torch.Tensor,
    joint_types: torch.Tensor,
    grid_or_shape,
    *,
    sigma: float = 2.0,
    radius: int | None = None,
    batch_index: torch.Tensor | None = None,
    batch_size: int | None = None,
    num_joints: int = NUM_JOINTS,
    snap: bool = False,
    out: torch.Tensor | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """Render volumetric Gaussian heatmaps sparsely, aggregating overlapping joints by max.

    The value at voxel ``x`` of channel ``(b, j)`` is the max over the centres ``c`` of that channel with
    ``|x_i - c_i| <= R`` on every axis of ``exp(-||x - c||^2 / sigma^2)`` (paper Eq. 1-2, no factor 2), 0 elsewhere.
    Work grows with ``K * (2R + 1)^3`` plus one pass to clear ``out``, never with ``K * volume``.

    Args:
        centers: (K, 3) float voxel coordinates ``(d, v, u)`` (computed in float32). Non-finite rows are skipped
            (a missing joint); centres outside the volume render their clipped part.
        joint_types: (K,) int joint type in ``[0, J)``.
        grid_or_shape: a :class:`VoxelGrid` (``J = num_joints``), or a ``(D, H, W)`` or ``(J, D, H, W)`` shape.
        sigma: Gaussian width in voxels, > 0.
        radius: half side R of the truncation cube; default ``floor(2.5 * sigma)`` (the original cube of side
            ``5 * sigma + 1``).
        batch_index: (K,) int batch element of each centre, in ``[0, B)``; default all 0.
        batch_size: B; default ``out.shape[0]``, else ``max(batch_index) + 1``, else 1.
        num_joints: J when ``grid_or_shape`` does not give it.
        snap: round centres to the nearest voxel first (the original ground truth).
        out: optional (B, J, D, H, W) float32 contiguous tensor to render into (it is cleared first).
        backend: ``"auto"``, ``"triton"``, ``"numba"`` or ``"torch"``.

    Returns:
        (B, J, D, H, W) float32 heatmaps on the device of ``centers``.
    """
    _check_tensor("centers", centers, 2)
    if centers.shape[1] != 3:
        raise ValueError(f"centers must have shape (K, 3), got shape {tuple(centers.shape)}")
    if not centers.is_floating_point():
        raise TypeError(f"centers must be a floating-point tensor, got dtype {centers.dtype}")
    _check_tensor("joint_types", joint_types, 1)
    _check_int_tensor("joint_types", joint_types)
    k = centers.shape[0]
    if joint_types.shape[0] != k:
        raise ValueError(f"joint_types must have length K={k} like centers, got {joint_types.shape[0]}")
    device = centers.device
    if joint_types.device != device:
        raise ValueError(f"joint_types is on {joint_types.device} but centers on {device}")
    if batch_index is not None:
        _check_tensor("batch_index", batch_index, 1)
        _check_int_tensor("batch_index", batch_index)
        if batch_index.shape[0] != k:
            raise ValueError(f"batch_index must have length K={k} like centers, got {batch_index.shape[0]}")
        if batch_index.device != device:
            raise ValueError(f"batch_index is on {batch_index.device} but centers on {device}")
    sigma = check_positive("sigma", sigma)
    if radius is None:
        radius = int(math.floor(2.5 * sigma))
    else:
        radius = check_int("radius", radius, 0)
    num_joints = check_int("num_joints", num_joints, 1)
    snap = check_bool("snap", snap)
    joints, depth, height, width = _volume_shape(grid_or_shape, num_joints)

    if k and (int(joint_types.min()) < 0 or int(joint_types.max()) >= joints):
        raise ValueError(
            f"joint_types must lie in [0, {joints}), got values in [{int(joint_types.min())}, {int(joint_types.max())}]"
        )
    if out is not None:
        _check_tensor("out", out, 5)
        if out.dtype != torch.float32:
            raise TypeError(f"out must be float32, got dtype {out.dtype}")
        if out.device != device:
            raise ValueError(f"out is on {out.device} but centers on {device}")
        if tuple(out.shape[1:]) != (joints, depth, height, width):
            raise ValueError(f"out must have shape (B, {joints}, {depth}, {height}, {width}), got {tuple(out.shape)}")
        if not out.is_contiguous():
            raise ValueError("out must be contiguous")
        if batch_size is not None and batch_size != out.shape[0]:
            raise ValueError(f"batch_size={batch_size} disagrees with out.shape[0]={out.shape[0]}")
        batch_size = out.shape[0]
    if batch_size is None:
        batch_size = int(batch_index.max()) + 1 if batch_index is not None and k else 1
    batch_size = check_int("batch_size", batch_size, 1)
    if batch_index is not None and k and (int(batch_index.min()) < 0 or int(batch_index.max()) >= batch_size):
        raise ValueError(
            f"batch_index must lie in [0, {batch_size}), got values in "
            f"[{int(batch_index.min())}, {int(batch_index.max())}]"
        )
    backend = resolve_backend(backend, device)
    if out is None:
        out = torch.empty((batch_size, joints, depth, height, width), dtype=torch.float32, device=device)

    # Host-side preparation shared by every backend, so they agree on which voxels each centre touches.
    c = centers.detach().to(torch.float32)
    if snap:
        c = torch.round(c)
    dims = torch.tensor([depth, height, width], dtype=torch.float32, device=device)
    keep = torch.isfinite(c).all(1) & (c + radius >= 0).all(1) & (c - radius <= dims - 1).all(1)
    c = c[keep].contiguous()
    lo = torch.clamp(torch.ceil(c - radius), min=0).to(torch.int64)
    hi = torch.minimum(torch.floor(c + radius), dims - 1).to(torch.int64)
    b = batch_index[keep].to(torch.int64) if batch_index is not None else torch.zeros_like(lo[:, 0])
    channel = b * joints + joint_types[keep].to(torch.int64)
    flat_out = out.view(batch_size * joints, depth, height, width)

    out.zero_()  # every backend max-splats non-negative values into a cleared volume
    if backend == "torch":
        from loco.kernels.render_torch import render_torch

        render_torch(flat_out, c, lo, hi, channel, float(sigma), radius)
    elif backend == "numba":
        from loco.kernels.render_numba import render_numba

        render_numba(flat_out, c, lo, hi, channel, float(sigma))
    else:
        from loco.kernels.render_triton import render_triton

        render_triton(flat_out, c, lo, hi, channel, float(sigma), radius)
    return out


def _sort_and_pack(
    flat: torch.Tensor, score: torch.Tensor, offset: torch.Tensor, shape: tuple[int, int, int, int, int]
) -> Peaks:
    """Order peaks by (batch, joint, -score, index) and unpack flat indices; shared by every backend."""
    _, joints, depth, height, width = shape
    order = torch.argsort(flat, stable=True)
    order = order[torch.argsort(-score[order], stable=True)]
    channel = flat[order] // (depth * height * width)
    order = order[torch.argsort(channel, stable=True)]
    flat, score, offset = flat[order], score[order], offset[order]
    channel, rest = flat // (depth * height * width), flat % (depth * height * width)
    d, rest = rest // (height * width), rest % (height * width)
    index = torch.stack((d, rest // width, rest % width), dim=1)
    return Peaks(
        batch=channel // joints,
        joint=channel % joints,
        index=index,
        position=index.to(torch.float32) + offset,
        score=score,
    )


def find_peaks(
    volume: torch.Tensor,
    *,
    threshold: float = 0.1,
    connectivity: int = 6,
    ties: str = "strict",
    refine: str | None = None,
    backend: str = "auto",
) -> Peaks:
    """Local maxima of volumetric heatmaps in one fused pass (compare, threshold, compact, refine).

    A voxel ``x`` is a peak when ``h(x) > threshold`` and ``h(x) > h(y)`` for every neighbour ``y`` inside the
    volume (``>=`` with ``ties="plateau"``). NaN is never a peak, and a NaN neighbour is never exceeded, so NaN
    never creates one. Every peak is returned, however many.

    Args:
        volume: (B, J, D, H, W) or (J, D, H, W) float heatmaps (float16/bfloat16 are read as float32).
        threshold: minimum value, exclusive.
        connectivity: 6 (face neighbours, paper Eq. 3) or 26 (the original evaluation kernel).
        ties: ``"strict"`` or ``"plateau"`` (the original training-time check).
        refine: ``None`` (integer positions), ``"gaussian"`` (per axis, the vertex of the parabola through the logs
            of the peak and its two face neighbours, exact for an isolated Gaussian, clamped to +-0.5, no offset
            where a neighbour is outside the volume or <= 0) or ``"quadratic"`` (the same on raw values).
        backend: ``"auto"``, ``"triton"``, ``"numba"`` or ``"torch"``.

    Returns:
        :class:`Peaks`, sorted by batch, joint, descending score, then index; ``batch`` is 0 for 4-D input.
    """
    _check_tensor("volume", volume)
    if volume.ndim not in (4, 5):
        raise ValueError(f"volume must be 4-D (J, D, H, W) or 5-D (B, J, D, H, W), got shape {tuple(volume.shape)}")
    if not volume.is_floating_point():
        raise TypeError(f"volume must be a floating-point tensor, got dtype {volume.dtype}")
    threshold = check_real("threshold", threshold, nan=False)
    connectivity = check_choice("connectivity", connectivity, _CONNECTIVITY)
    ties = check_choice("ties", ties, _TIES)
    refine = check_choice("refine", refine, _REFINE)
    vol5 = volume if volume.ndim == 5 else volume.unsqueeze(0)
    shape = tuple(vol5.shape)
    backend = resolve_backend(backend, volume.device)
    flat_vol = vol5.reshape(shape[0] * shape[1], *shape[2:])
    if 0 in shape:
        empty = torch.empty(0, dtype=torch.int64, device=volume.device)
        return _sort_and_pack(empty, empty.float(), torch.empty(0, 3, device=volume.device), shape)
    if backend == "torch":
        from loco.kernels.peaks_torch import find_peaks_torch as kernel
    elif backend == "numba":
        from loco.kernels.peaks_numba import find_peaks_numba as kernel
    else:
        from loco.kernels.peaks_triton import find_peaks_triton as kernel
    flat, score, offset = kernel(flat_vol, float(threshold), connectivity, ties, refine)
    return _sort_and_pack(flat, score, offset, shape)


def _check_geometry_args(grid, camera) -> None:
    if not isinstance(grid, VoxelGrid):
        raise TypeError(f"grid must be a VoxelGrid, got {type(grid).__name__}")
    if not isinstance(camera, Camera):
        raise TypeError(f"camera must be a Camera, got {type(camera).__name__}")


def project(xyz: torch.Tensor, grid: VoxelGrid, camera: Camera, *, backend: str = "auto") -> torch.Tensor:
    """Camera-frame points (K, 3) in metres to voxel coordinates (K, 3) ``(d, v, u)``; see :mod:`loco.geometry`.

    Args:
        xyz: (K, 3) float, metres, camera frame; points with ``Z <= 0`` give non-finite coordinates.
        grid: the voxel grid.
        camera: the intrinsics.
        backend: ``"triton"`` runs one fused kernel; ``"numba"`` a parallel loop; ``"torch"`` the reference.

    Returns:
        (K, 3) float voxel coordinates; :func:`backproject` is its exact inverse.
    """
    return _geometry_op("xyz", xyz, grid, camera, backend, "project")


def backproject(positions: torch.Tensor, grid: VoxelGrid, camera: Camera, *, backend: str = "auto") -> torch.Tensor:
    """Voxel coordinates (K, 3) ``(d, v, u)`` to camera-frame points (K, 3) in metres; inverse of :func:`project`.

    Args:
        positions: (K, 3) float voxel coordinates, e.g. :attr:`Peaks.position`.
        grid: the voxel grid the volume was defined on.
        camera: the intrinsics.
        backend: ``"triton"`` runs one fused kernel; ``"numba"`` a parallel loop; ``"torch"`` the reference.

    Returns:
        (K, 3) float, ``(X, Y, Z)`` metres, camera frame.
    """
    return _geometry_op("positions", positions, grid, camera, backend, "backproject")


def _geometry_op(name: str, points, grid, camera, backend: str, op: str) -> torch.Tensor:
    _check_geometry_args(grid, camera)
    _check_tensor(name, points, 2)
    if points.shape[1] != 3:
        raise ValueError(f"{name} must have shape (K, 3), got shape {tuple(points.shape)}")
    if not points.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {points.dtype}")
    backend = resolve_backend(backend, points.device)
    if backend == "torch" or points.shape[0] == 0:
        return getattr(geometry, op)(points, grid, camera)
    if backend == "numba":
        from loco.kernels import geometry_numba as module
    else:
        from loco.kernels import geometry_triton as module
    return getattr(module, f"{op}_{backend}")(points, grid, camera)
