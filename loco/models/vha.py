"""The Volumetric Heatmap Autoencoder (VHA): compresses 14 volumetric heatmaps into one small code and back.

Version 2 is the authors' network layer for layer (``models/vha.py`` of the original release), state-dict keys
included; versions 1 and 3 follow paper Table 1 with the same layout, so every version shares the key names
``encoder.{0,2,4}``, ``fuser.{0,2}``, ``defuser.{0,2}``, ``decoder.{0,3,6}``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from loco._checks import check_choice
from loco._checks import check_int as _check_int
from loco.geometry import VoxelGrid
from loco.models._hub import PretrainedMixin
from loco.skeleton import NUM_JOINTS

__all__ = ["VHA", "VHA_VERSIONS"]

#: Paper Table 1: depth divisors ``(d1, d2, d3)`` and strides ``(s1, s2, s3)`` of the three encoder convolutions.
VHA_VERSIONS: dict[int, dict[str, tuple[int, int, int]]] = {
    1: {"divisors": (1, 2, 2), "strides": (1, 2, 1)},
    2: {"divisors": (2, 4, 4), "strides": (2, 2, 1)},
    3: {"divisors": (2, 4, 8), "strides": (2, 2, 2)},
}


def _upsample(factor: int) -> nn.Module:
    # Identity keeps the slot, so the decoder's convolutions sit at indices 0, 3, 6 in every version.
    if factor == 1:
        return nn.Identity()
    return nn.Upsample(scale_factor=factor, mode="bilinear", align_corners=False)


def _grid_hw(grid_or_size) -> tuple[int, int]:
    if isinstance(grid_or_size, VoxelGrid):
        return grid_or_size.height, grid_or_size.width
    if isinstance(grid_or_size, (tuple, list, torch.Size)) and len(grid_or_size) == 2:
        h, w = grid_or_size
        _check_int("height", h, 1)
        _check_int("width", w, 1)
        return int(h), int(w)
    raise TypeError(f"grid must be a VoxelGrid or an (H', W') pair, got {type(grid_or_size).__name__}")


class VHA(PretrainedMixin, nn.Module):
    """Volumetric Heatmap Autoencoder (paper Sec. 3.2, Table 1).

    encode: the volumes are viewed as ``B*J`` images with ``D`` channels; three 5x5 Conv2d + ReLU compress depth to
    ``D/d1, D/d2, D/d3`` channels with strides ``s1, s2, s3``; the ``J`` joint maps are then fused by two 5x5x5
    Conv3d (joints as channels, 3-D over ``(D/d3, h, w)``) into a single-channel code. decode mirrors it: the
    defuser (two Conv3d, 1 -> 4 -> J channels) restores one map per joint, then per joint three 5x5 Conv2d
    ``D/d3 -> D/d2 -> D/d1 -> D``, each followed by a bilinear x``s_k`` upsampling (``align_corners=False``; none
    where ``s_k = 1``) and a ReLU. For version 2 this is exactly the original: Upsample after the first two decoder
    convolutions, none after the last.

    | version | (d1, d2, d3) | (s1, s2, s3) | code (JTA grid 316 x 136 x 240) | parameters |
    | --- | --- | --- | --- | --- |
    | 1 | (1, 2, 2) | (1, 2, 1) | 1 x 158 x 68 x 120 | 8,753,845 |
    | 2 | (2, 4, 4) | (2, 2, 1) | 1 x 79 x 34 x 60 | 3,448,442 |
    | 3 | (2, 4, 8) | (2, 2, 2) | 1 x 39 x 17 x 30 | 3,290,402 |

    Sizes: ``H'`` and ``W'`` need not be multiples of the total stride ``S = s1*s2*s3``. :meth:`encode` pads the
    volumes with zeros at the bottom/right up to the next multiple of ``S`` (135 -> 136 for 1080-pixel images at
    stride 8), and :meth:`decode` / :meth:`forward` crop the output back to the requested ``(H', W')``; nothing is
    ever resized. The code of an ``H' x W'`` grid is ``ceil(H'/S) x ceil(W'/S)`` (:meth:`code_shape`).

    Memory layout: works with contiguous and channels-last tensors (``model.to(memory_format=torch.channels_last)``;
    the 3-D layers then see channels-last-3d inputs), and under ``torch.autocast`` (bf16 on CUDA).

    Args:
        version: 1, 2 or 3 (paper Table 1).
        joints: J, number of joint types (heatmap volumes).
        depth_bins: D, depth bins of each volume.
    """

    def __init__(self, version: int = 2, joints: int = NUM_JOINTS, depth_bins: int = 316) -> None:
        super().__init__()
        version = check_choice("version", version, tuple(sorted(VHA_VERSIONS)))
        joints = _check_int("joints", joints, 1)
        depth_bins = _check_int("depth_bins", depth_bins, 8)
        self.version, self.joints, self.depth_bins = version, joints, depth_bins
        divisors, strides = VHA_VERSIONS[version]["divisors"], VHA_VERSIONS[version]["strides"]
        c0, c1, c2, c3 = depth_bins, *(depth_bins // d for d in divisors)
        self.strides = strides
        self.encoder = nn.Sequential(
            nn.Conv2d(c0, c1, kernel_size=5, stride=strides[0], padding=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, kernel_size=5, stride=strides[1], padding=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(c2, c3, kernel_size=5, stride=strides[2], padding=2),
            nn.ReLU(inplace=True),
        )
        self.fuser = nn.Sequential(
            nn.Conv3d(joints, 4, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.Conv3d(4, 1, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
        )
        self.defuser = nn.Sequential(
            nn.Conv3d(1, 4, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.Conv3d(4, joints, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(c3, c2, kernel_size=5, padding=2),
            _upsample(strides[0]),
            nn.ReLU(inplace=True),
            nn.Conv2d(c2, c1, kernel_size=5, padding=2),
            _upsample(strides[1]),
            nn.ReLU(inplace=True),
            nn.Conv2d(c1, c0, kernel_size=5, padding=2),
            _upsample(strides[2]),
            nn.ReLU(inplace=True),
        )

    @property
    def config(self) -> dict:
        """Constructor arguments (saved as ``config.json``)."""
        return {"version": self.version, "joints": self.joints, "depth_bins": self.depth_bins}

    @property
    def stride(self) -> int:
        """S, the total spatial downsampling ``s1*s2*s3`` from the grid to the code."""
        return math.prod(self.strides)

    @property
    def code_channels(self) -> int:
        """C, the code's depth size ``D // d3``."""
        return self.encoder[4].out_channels

    def code_shape(self, grid: VoxelGrid | tuple[int, int]) -> tuple[int, int, int, int]:
        """Shape of one code for a grid: ``(1, C, ceil(H'/S), ceil(W'/S))`` (the batch axis excluded).

        Args:
            grid: a :class:`VoxelGrid` (its depth_bins must equal ``D``) or an ``(H', W')`` pair.
        """
        if isinstance(grid, VoxelGrid) and grid.depth_bins != self.depth_bins:
            raise ValueError(f"grid has depth_bins={grid.depth_bins} but this VHA expects {self.depth_bins}")
        h, w = _grid_hw(grid)
        s = self.stride
        return (1, self.code_channels, -(-h // s), -(-w // s))

    def _check_code(self, code: torch.Tensor) -> None:
        if not isinstance(code, torch.Tensor):
            raise TypeError(f"code must be a torch.Tensor, got {type(code).__name__}")
        if code.ndim != 5 or code.shape[1] != 1 or code.shape[2] != self.code_channels:
            raise ValueError(f"code must have shape (B, 1, {self.code_channels}, h, w), got shape {tuple(code.shape)}")
        if not code.is_floating_point():
            raise TypeError(f"code must be a floating-point tensor, got dtype {code.dtype}")

    def encode(self, volumes: torch.Tensor) -> torch.Tensor:
        """Compress heatmap volumes into codes.

        Args:
            volumes: (B, J, D, H', W') float heatmaps; H', W' of any size (zero-padded to a multiple of S).

        Returns:
            (B, 1, C, ceil(H'/S), ceil(W'/S)) code.
        """
        if not isinstance(volumes, torch.Tensor):
            raise TypeError(f"volumes must be a torch.Tensor, got {type(volumes).__name__}")
        if volumes.ndim != 5 or volumes.shape[1] != self.joints or volumes.shape[2] != self.depth_bins:
            raise ValueError(
                f"volumes must have shape (B, {self.joints}, {self.depth_bins}, H', W'), got shape "
                f"{tuple(volumes.shape)}"
            )
        if not volumes.is_floating_point():
            raise TypeError(f"volumes must be a floating-point tensor, got dtype {volumes.dtype}")
        b, j, d, h, w = volumes.shape
        s = self.stride
        x = volumes.reshape(b * j, d, h, w)
        pad_h, pad_w = -h % s, -w % s
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        x = self.encoder(x)
        x = x.reshape(b, j, *x.shape[1:])
        return self.fuser(x)

    def defuse(self, code: torch.Tensor) -> torch.Tensor:
        """First half of :meth:`decode`: the code to one compressed map per joint.

        Args:
            code: (B, 1, C, h, w).

        Returns:
            (B, J, C, h, w); the rest of the decoder treats each ``(b, j)`` map independently.
        """
        self._check_code(code)
        return self.defuser(code)

    def decode_maps(self, maps: torch.Tensor) -> torch.Tensor:
        """Second half of :meth:`decode`: compressed per-joint maps to volumes, each map on its own.

        Args:
            maps: (N, C, h, w), e.g. some ``(b, j)`` rows of :meth:`defuse`'s output.

        Returns:
            (N, D, h*S, w*S) uncropped volumes.
        """
        return self.decoder(maps)

    def decode(self, code: torch.Tensor, size: VoxelGrid | tuple[int, int] | None = None) -> torch.Tensor:
        """Restore heatmap volumes from codes (the whole batch at once; see :func:`decode_peaks` for a lean path).

        Args:
            code: (B, 1, C, h, w).
            size: the grid or ``(H', W')`` to crop the output to (each at most ``h*S``, ``w*S``); default no crop.

        Returns:
            (B, J, D, H', W') volumes.
        """
        x = self.defuse(code)
        b, j = x.shape[:2]
        x = self.decode_maps(x.reshape(b * j, *x.shape[2:]))
        x = x.reshape(b, j, *x.shape[1:])
        if size is not None:
            h, w = self._crop_size(size, code)
            x = x[..., :h, :w]
        return x

    def _crop_size(self, size, code: torch.Tensor) -> tuple[int, int]:
        if isinstance(size, VoxelGrid) and size.depth_bins != self.depth_bins:
            raise ValueError(f"grid has depth_bins={size.depth_bins} but this VHA expects {self.depth_bins}")
        h, w = _grid_hw(size)
        full_h, full_w = code.shape[-2] * self.stride, code.shape[-1] * self.stride
        if not (full_h - self.stride < h <= full_h and full_w - self.stride < w <= full_w):
            raise ValueError(
                f"size ({h}, {w}) does not match a code of {tuple(code.shape[-2:])}: expected H' in "
                f"({full_h - self.stride}, {full_h}] and W' in ({full_w - self.stride}, {full_w}]"
            )
        return h, w

    def decode_peaks(self, code: torch.Tensor, grid: VoxelGrid | tuple[int, int] | None = None, **kwargs):
        """Peaks of the decoded volumes, decoding a few joints at a time; see :func:`loco.models.decode_peaks`."""
        from loco.models.decode import decode_peaks

        return decode_peaks(self, code, grid, **kwargs)

    def forward(self, volumes: torch.Tensor) -> torch.Tensor:
        """Encode then decode: (B, J, D, H', W') -> (B, J, D, H', W') (padded internally, cropped back)."""
        return self.decode(self.encode(volumes), size=tuple(volumes.shape[-2:]))
