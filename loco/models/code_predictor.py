"""The Code Predictor: a CNN from the RGB image to the VHA code (paper Sec. 3.3).

Two backbones: ``"inception_v3"`` (the paper's, to ``Mixed_7c`` plus a 2x2 average pooling, stride 64, 2048
channels) and ``"light"`` (a half-width ResNet-18, stride 32, 256 channels, a few million parameters, trainable on
a CPU). The head is the original's: ``n`` blocks of ConvTranspose2d(k4, s2) + ReLU halving the channels until the
code's stride is reached, two blocks of ZeroPad2d((1, 2, 1, 2)) + Conv2d(k4) + ReLU, and a 1x1 Conv2d to the
code's ``C`` channels. With the Inception backbone and a VHA v2 code (stride 32 px) this is the authors' network,
state-dict keys included (``f_extractor.*``, ``main.0.main.0``, ``main.1.main.1``, ``main.2.main.1``, ``main.3``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from loco._checks import check_choice, check_int
from loco.models._hub import PretrainedMixin
from loco.models.inception import Inception3, inception_output_size
from loco.models.vha import VHA_VERSIONS

__all__ = ["CodePredictor", "LightBackbone", "BACKBONES"]

BACKBONES = ("inception_v3", "light")

#: ImageNet statistics: the Code Predictor's input is ``(rgb / 255 - IMAGENET_MEAN) / IMAGENET_STD``.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class _ResBlock(nn.Module):
    """ResNet basic block: 3x3 conv-BN-ReLU, 3x3 conv-BN, plus a (projected) shortcut, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)), inplace=True)))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)), inplace=True)


class LightBackbone(nn.Module):
    """A half-width ResNet-18 (widths 32, 64, 128, 256): stride 32, 256 channels, 2.8 M parameters.

    Every downsampling has padding, so an ``H x W`` image gives exactly ``ceil(H/32) x ceil(W/32)`` features.

    Args:
        widths: channels of the four stages.
    """

    stride = 32

    def __init__(self, widths: tuple[int, int, int, int] = (32, 64, 128, 256)) -> None:
        super().__init__()
        self.out_channels = widths[-1]
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        stages, c = [], widths[0]
        for i, w in enumerate(widths):
            stages.append(nn.Sequential(_ResBlock(c, w, 1 if i == 0 else 2), _ResBlock(w, w, 1)))
            c = w
        self.layers = nn.Sequential(*stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) ImageNet-normalised -> (B, 256, ceil(H/32), ceil(W/32))."""
        return self.layers(self.stem(x))


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _light_output_size(size: int) -> int:
    return _ceil_div(size, 32)


class _Up(nn.Module):
    """ConvTranspose2d(k4, s2) + ReLU: ``n -> 2n + 2``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.main = nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class _Same(nn.Module):
    """ZeroPad2d((1, 2, 1, 2)) + Conv2d(k4, stride) + ReLU: size kept (stride 1) or halved (stride 2)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(in_channels, out_channels, 4, stride=stride), nn.ReLU(inplace=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class CodePredictor(PretrainedMixin, nn.Module):
    """Image -> VHA code.

    The head's output always has the code shape of the VHA for the image's grid (``VoxelGrid.for_image``, stride
    8): ``ceil(ceil(H/8)/S) x ceil(ceil(W/8)/S)`` with ``S`` the VHA's stride. The image is zero-padded at the
    bottom/right (zero is the ImageNet mean after normalisation) just enough for the network's output to cover that
    size, and the output is cropped to it; the 1080 x 1920 JTA frames need no padding with either backbone.

    Args:
        backbone: ``"inception_v3"`` (the paper's) or ``"light"``.
        vha_version: the VHA whose codes are predicted (1, 2 or 3); fixes the code's stride and channels.
        depth_bins: D of that VHA (code channels ``D // d3``).
        head_widths: channels of the two same-size head blocks; default ``(512, 256)`` for Inception (the
            original) and ``(256, 128)`` for the light backbone.
    """

    def __init__(
        self,
        backbone: str = "inception_v3",
        vha_version: int = 2,
        depth_bins: int = 316,
        head_widths: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        backbone = check_choice("backbone", backbone, BACKBONES)
        vha_version = check_choice("vha_version", vha_version, tuple(sorted(VHA_VERSIONS)))
        depth_bins = check_int("depth_bins", depth_bins, 8)
        if head_widths is None:
            head_widths = (512, 256) if backbone == "inception_v3" else (256, 128)
        if not isinstance(head_widths, (tuple, list)) or len(head_widths) != 2:
            raise ValueError(f"head_widths must be two positive ints, got {head_widths!r}")
        head_widths = tuple(check_int(f"head_widths[{i}]", w, 1) for i, w in enumerate(head_widths))
        self.backbone, self.vha_version, self.depth_bins = backbone, vha_version, depth_bins
        self.head_widths = head_widths
        self.code_channels = depth_bins // VHA_VERSIONS[vha_version]["divisors"][2]
        #: Pixels per code cell: the grid's stride 8 times the VHA's stride.
        self.code_stride = 8 * math.prod(VHA_VERSIONS[vha_version]["strides"])

        if backbone == "inception_v3":
            self.f_extractor = Inception3(transform_input=True)
        else:
            self.f_extractor = LightBackbone()
        feat_stride, c = self.f_extractor.stride, self.f_extractor.out_channels
        blocks: list[nn.Module] = []
        while feat_stride > self.code_stride:
            blocks.append(_Up(c, c // 2))
            feat_stride, c = feat_stride // 2, c // 2
        first_stride = 1
        if feat_stride < self.code_stride:
            if self.code_stride != 2 * feat_stride:
                raise ValueError(f"cannot reach code stride {self.code_stride} from backbone stride {feat_stride}")
            first_stride = 2
        self._n_up, self._down = len(blocks), first_stride == 2
        blocks.append(_Same(c, head_widths[0], stride=first_stride))
        blocks.append(_Same(head_widths[0], head_widths[1]))
        blocks.append(nn.Conv2d(head_widths[1], self.code_channels, kernel_size=1))
        self.main = nn.Sequential(*blocks)

    @property
    def config(self) -> dict:
        """Constructor arguments (saved as ``config.json``)."""
        return {
            "backbone": self.backbone,
            "vha_version": self.vha_version,
            "depth_bins": self.depth_bins,
            "head_widths": list(self.head_widths),
        }

    def code_size(self, height: int, width: int) -> tuple[int, int]:
        """``(h, w)`` of the code predicted for an ``height x width`` image (the VHA's code of its grid)."""
        s = self.code_stride // 8
        return _ceil_div(_ceil_div(height, 8), s), _ceil_div(_ceil_div(width, 8), s)

    def _output_size(self, size: int) -> int:
        n = inception_output_size(size) if self.backbone == "inception_v3" else _light_output_size(size)
        if n == 0:
            return 0
        for _ in range(self._n_up):
            n = 2 * n + 2
        return -(-n // 2) if self._down else n

    def _padded(self, size: int, target: int) -> int:
        padded = size
        while self._output_size(padded) < target:
            padded += 1
        return padded

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Predict codes.

        Args:
            images: (B, 3, H, W) float, RGB in [0, 1] normalised with ImageNet mean/std
                (:data:`IMAGENET_MEAN`, :data:`IMAGENET_STD`); any H, W >= 1 (small images are padded up).

        Returns:
            (B, 1, C, h, w) code, ``(h, w) = code_size(H, W)``, ready for ``VHA.decode``.
        """
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must have shape (B, 3, H, W), got shape {tuple(images.shape)}")
        if not images.is_floating_point():
            raise TypeError(f"images must be a floating-point tensor, got dtype {images.dtype}")
        height, width = images.shape[-2:]
        th, tw = self.code_size(height, width)
        ph, pw = self._padded(height, th) - height, self._padded(width, tw) - width
        x = F.pad(images, (0, pw, 0, ph)) if ph or pw else images
        x = self.main(self.f_extractor(x))
        return x[..., :th, :tw].unsqueeze(1)
