"""Camera and voxel-grid geometry: pinhole projection between metres and voxel coordinates.

Conventions (follow the original LoCO code so the authors' data lines up):

* camera frame: x right, y down, z forward, metres; pinhole ``x_px = fx * X / Z + cx``, ``y_px = fy * Y / Z + cy``,
  no half-pixel offsets;
* voxel coordinates ``(d, v, u)``: ``u = x_px / stride``, ``v = y_px / stride``,
  ``d = (depth - min_depth) / bin`` with ``bin = (max_depth - min_depth) / (depth_bins - 1)``; integer coordinates
  are voxel centres;
* ``depth`` is the Euclidean distance to the camera centre (``depth_mode="distance"``, the original JTA code) or
  ``Z`` (``depth_mode="z"``, used for Panoptic and Human3.6M).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch

from loco._checks import check_choice, check_int, check_positive, check_real

__all__ = ["Camera", "VoxelGrid", "project", "backproject"]

_DEPTH_MODES = ("distance", "z")

#: Horizontal field of view of the JTA camera, ``2 * atan(960 / 1158)`` = 79.33 degrees: the default for images
#: whose camera is unknown.
JTA_HFOV_DEG: float = math.degrees(2 * math.atan(960 / 1158))


@dataclass(frozen=True)
class Camera:
    """Pinhole intrinsics in pixels (no distortion, no skew).

    Args:
        fx, fy: focal lengths in pixels.
        cx, cy: principal point in pixels.
    """

    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        for name in ("fx", "fy", "cx", "cy"):
            value = check_real(f"Camera.{name}", getattr(self, name))
            object.__setattr__(self, name, value)
            if not math.isfinite(value):
                raise ValueError(f"Camera.{name} must be finite, got {value}")
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"Camera focal lengths must be positive, got fx={self.fx}, fy={self.fy}")

    @classmethod
    def jta(cls) -> Camera:
        """The JTA camera (1920x1080): ``fx = fy = 1158``, ``cx = 960``, ``cy = 540``."""
        return cls(1158.0, 1158.0, 960.0, 540.0)

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float = JTA_HFOV_DEG) -> Camera:
        """A camera with square pixels, the principal point at the image centre and the given horizontal field of
        view; the default is the JTA camera's (:data:`JTA_HFOV_DEG`), so ``from_fov(1920, 1080) == Camera.jta()``.
        """
        width, height = check_positive("width", width), check_positive("height", height)
        hfov_deg = check_real("hfov_deg", hfov_deg)
        if not 0 < hfov_deg < 180:
            raise ValueError(f"hfov_deg must be in (0, 180), got {hfov_deg}")
        f = (width / 2) / math.tan(math.radians(hfov_deg) / 2)
        return cls(f, f, width / 2, height / 2)

    def scaled(self, sx: float, sy: float | None = None) -> Camera:
        """The intrinsics of the same camera after resizing the image by ``sx`` (and ``sy``)."""
        sx = check_positive("sx", sx)
        sy = sx if sy is None else check_positive("sy", sy)
        return Camera(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class VoxelGrid:
    """The volumetric-heatmap grid: ``depth_bins x height x width`` voxels.

    Args:
        depth_bins: D, number of depth bins.
        min_depth, max_depth: metres covered by bin 0 and bin D-1 (voxel centres).
        height, width: H', W', the heatmap size (image size / stride).
        stride: pixels per voxel in the image plane.
        depth_mode: ``"distance"`` (Euclidean distance to the camera centre) or ``"z"``.
    """

    depth_bins: int = 316
    min_depth: float = 0.0
    max_depth: float = 100.0
    height: int = 136
    width: int = 240
    stride: int = 8
    depth_mode: str = "distance"

    def __post_init__(self) -> None:
        # numpy ints and floats are accepted and stored as Python numbers (the grid goes into JSON configs)
        for name in ("depth_bins", "height", "width", "stride"):
            object.__setattr__(self, name, check_int(f"VoxelGrid.{name}", getattr(self, name), 1))
        for name in ("min_depth", "max_depth"):
            object.__setattr__(self, name, check_real(f"VoxelGrid.{name}", getattr(self, name)))
        if self.depth_bins < 2:
            raise ValueError(f"VoxelGrid.depth_bins must be >= 2, got {self.depth_bins}")
        if not (math.isfinite(self.min_depth) and math.isfinite(self.max_depth)) or self.max_depth <= self.min_depth:
            raise ValueError(
                f"VoxelGrid needs finite min_depth < max_depth, got min_depth={self.min_depth}, "
                f"max_depth={self.max_depth}"
            )
        object.__setattr__(self, "depth_mode", check_choice("VoxelGrid.depth_mode", self.depth_mode, _DEPTH_MODES))

    @property
    def bin_size(self) -> float:
        """Metres per depth bin."""
        return (self.max_depth - self.min_depth) / (self.depth_bins - 1)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(D, H', W')``."""
        return (self.depth_bins, self.height, self.width)

    @property
    def image_size(self) -> tuple[int, int]:
        """``(height, width)`` in pixels covered by the grid."""
        return (self.height * self.stride, self.width * self.stride)

    @classmethod
    def jta(cls, **overrides) -> VoxelGrid:
        """JTA: D=316 over [0, 100] m Euclidean distance, 1920x1080 at stride 8 -> H'=136, W'=240."""
        return replace(cls(316, 0.0, 100.0, 136, 240, 8, "distance"), **overrides)

    @classmethod
    def panoptic(cls, **overrides) -> VoxelGrid:
        """CMU Panoptic: D=316 over [0, 7] m of Z, 1920x1080 at stride 8."""
        return replace(cls(316, 0.0, 7.0, 136, 240, 8, "z"), **overrides)

    @classmethod
    def h36m(cls, **overrides) -> VoxelGrid:
        """Human3.6M: D=316 over [1.8, 8.1] m of Z, 1000x1000 at stride 8 -> H'=W'=125."""
        return replace(cls(316, 1.8, 8.1, 125, 125, 8, "z"), **overrides)

    @classmethod
    def for_image(cls, height: int, width: int, preset: str = "jta", stride: int = 8) -> VoxelGrid:
        """A preset's depth range for an image of ``height x width`` pixels (``ceil`` of size / stride)."""
        presets = {"jta": cls.jta, "panoptic": cls.panoptic, "h36m": cls.h36m}
        preset = check_choice("preset", preset, tuple(sorted(presets)))
        height, width = check_int("height", height, 1), check_int("width", width, 1)
        stride = check_int("stride", stride, 1)
        return presets[preset](height=-(-height // stride), width=-(-width // stride), stride=stride)

    def to_dict(self) -> dict:
        return asdict(self)


def _check_points(name: str, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim < 1 or x.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (..., 3), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")


def project(xyz: torch.Tensor, grid: VoxelGrid, camera: Camera) -> torch.Tensor:
    """Camera-frame points in metres to continuous voxel coordinates.

    Args:
        xyz: (..., 3) float, ``(X, Y, Z)`` in metres, camera frame. Points with ``Z <= 0`` give non-finite output.
        grid: the voxel grid.
        camera: the intrinsics.

    Returns:
        (..., 3) same dtype, ``(d, v, u)`` voxel coordinates; exact inverse of :func:`backproject`.
    """
    _check_points("xyz", xyz)
    x, y, z = xyz.unbind(-1)
    u = (camera.fx * x / z + camera.cx) / grid.stride
    v = (camera.fy * y / z + camera.cy) / grid.stride
    depth = torch.linalg.vector_norm(xyz, dim=-1) if grid.depth_mode == "distance" else z
    d = (depth - grid.min_depth) / grid.bin_size
    return torch.stack((d, v, u), dim=-1)


def backproject(positions: torch.Tensor, grid: VoxelGrid, camera: Camera) -> torch.Tensor:
    """Continuous voxel coordinates ``(d, v, u)`` to camera-frame points in metres.

    The pixel ``(u * stride, v * stride)`` defines a ray; the point on it at ``depth = min_depth + d * bin`` is
    returned, depth measured along the ray (``"distance"``) or along the optical axis (``"z"``).

    Args:
        positions: (..., 3) float voxel coordinates.
        grid: the voxel grid.
        camera: the intrinsics.

    Returns:
        (..., 3) same dtype, ``(X, Y, Z)`` in metres.
    """
    _check_points("positions", positions)
    d, v, u = positions.unbind(-1)
    rx = (u * grid.stride - camera.cx) / camera.fx
    ry = (v * grid.stride - camera.cy) / camera.fy
    depth = grid.min_depth + d * grid.bin_size
    z = depth / torch.sqrt(rx * rx + ry * ry + 1.0) if grid.depth_mode == "distance" else depth
    return torch.stack((rx * z, ry * z, z), dim=-1)
