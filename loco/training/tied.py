"""A depth-tied VHA: the same function class restricted to weights that do not depend on absolute depth.

The VHA's encoder and decoder are 2-D convolutions whose channels are the depth bins, so each of the ``D_in x D_out``
channel pairs has its own 5 x 5 kernel and a Gaussian at depth ``d`` trains only the kernels that touch ``d``: with
316 bins, every depth needs its own examples, and on a CPU budget the network never leaves its input-independent
plateau (see :mod:`loco.training.vha`). :class:`TiedVHA` ties those kernels along depth: channel pair ``(o, i)`` of an
encoder layer with depth ratio ``r`` uses ``K[i - r*o + p]`` (a Toeplitz matrix over depth), which is exactly a
one-channel :class:`~torch.nn.Conv3d` with depth stride ``r``; a decoder layer that multiplies the depth by ``u``
uses ``K[o mod u][i - o // u + p]`` (``u`` polyphase kernels, a one-to-``u``-channel Conv3d whose outputs are
interleaved along depth). The fuser and defuser are the VHA's own Conv3d layers. Every Gaussian then trains every
kernel, whatever its depth, and the network runs as cheap 3-D convolutions.

:meth:`TiedVHA.to_vha` writes the equivalent :class:`~loco.models.VHA` (same outputs up to float rounding, tested),
which then trains untied from that starting point (``VHAConfig.tied_steps``).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from loco.models import VHA
from loco.models.vha import VHA_VERSIONS
from loco.skeleton import NUM_JOINTS

__all__ = ["TiedVHA", "load_tied", "CPU_CHECKPOINTS"]

#: The depth-tied VHA v2 checkpoints of the CPU training recipe (``scripts/vha_cpu/``), as safetensors state dicts.
CPU_CHECKPOINTS = Path(__file__).resolve().parents[1] / "weights" / "tied_vha2_cpu"


def load_tied(path: str | Path, version: int = 2) -> TiedVHA:
    """A :class:`TiedVHA` from a safetensors state dict (a bare name is looked up in :data:`CPU_CHECKPOINTS`)."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file() and (CPU_CHECKPOINTS / f"{path.name}.safetensors").is_file():
        path = CPU_CHECKPOINTS / f"{path.name}.safetensors"
    model = TiedVHA(version)
    model.load_state_dict(load_file(str(path)))
    return model.eval()


def _enc_padding(cin: int, cout: int, kd: int) -> tuple[int, int]:
    """(ratio r, depth padding p) of a tied encoder layer with ``cin -> cout`` depth bins."""
    r = max(1, round(cin / cout))
    for p in range(kd):
        if (cin + 2 * p - kd) // r + 1 == cout:
            return r, p
    raise ValueError(f"no depth padding maps {cin} to {cout} bins with kernel {kd}")


def _tied_conv(x: torch.Tensor, conv: nn.Conv3d) -> torch.Tensor:
    """``conv`` (one input channel, ``u`` outputs, kernel ``(kd, 5, 5)``) on ``x (N, 1, D, h, w)``, returned as
    ``(N, D_out * u, h', w')`` with the ``u`` outputs interleaved along depth (``o = i * u + phase``).

    Same as ``F.conv3d`` but computed as a 2-D convolution over depth windows (``unfold``), channels-last: about 4x
    faster on a CPU than oneDNN's one-channel Conv3d, forward and backward.
    """
    kd = conv.kernel_size[0]
    r, p = conv.stride[0], conv.padding[0]
    n, _, d, h, w = x.shape
    xp = F.pad(x[:, 0], (0, 0, 0, 0, p, p)) if p else x[:, 0]
    win = xp.unfold(1, kd, r)  # (N, D_out, h, w, kd)
    dout = win.shape[1]
    win = win.permute(0, 1, 4, 2, 3).reshape(n * dout, kd, h, w).contiguous(memory_format=torch.channels_last)
    y = F.conv2d(win, conv.weight[:, 0], conv.bias, stride=conv.stride[1:], padding=conv.padding[1:])
    u = y.shape[1]
    return y.reshape(n, dout * u, *y.shape[2:])


class TiedVHA(nn.Module):
    """A :class:`~loco.models.VHA` whose encoder/decoder weights are tied along depth (module docstring).

    Args:
        version, joints, depth_bins: as :class:`~loco.models.VHA`.
        depth_kernel: ``kd``, depth extent of each tied kernel (odd).
    """

    def __init__(
        self, version: int = 2, joints: int = NUM_JOINTS, depth_bins: int = 316, depth_kernel: int = 5
    ) -> None:
        super().__init__()
        ref = VHA(version, joints, depth_bins)
        self.version, self.joints, self.depth_bins, self.kd = version, joints, depth_bins, depth_kernel
        self.strides = VHA_VERSIONS[version]["strides"]
        enc = [m for m in ref.encoder if isinstance(m, nn.Conv2d)]
        dec = [m for m in ref.decoder if isinstance(m, nn.Conv2d)]
        self.enc_shapes = [(m.in_channels, m.out_channels) for m in enc]
        self.dec_shapes = [(m.in_channels, m.out_channels) for m in dec]
        self.enc = nn.ModuleList()
        self.enc_pad = []
        for (cin, cout), s in zip(self.enc_shapes, self.strides):
            r, p = _enc_padding(cin, cout, depth_kernel)
            self.enc.append(nn.Conv3d(1, 1, (depth_kernel, 5, 5), stride=(r, s, s), padding=(p, 2, 2)))
            self.enc_pad.append((r, p))
        self.dec = nn.ModuleList()
        self.dec_up = []
        p = depth_kernel // 2
        for cin, cout in self.dec_shapes:
            u = -(-cout // cin)
            self.dec.append(nn.Conv3d(1, u, (depth_kernel, 5, 5), padding=(p, 2, 2)))
            self.dec_up.append(u)
        self.fuser, self.defuser = ref.fuser, ref.defuser
        self.dec_scale = list(self.strides)  # decoder layer k is followed by a x strides[k] bilinear upsampling
        #: negative slopes of the hidden activations and of the output activation while training (0 = the VHA's ReLUs)
        self.hidden_slope, self.output_slope = 0.0, 0.0
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Smoothing kernels in the encoder and decoder (a blurred identity through the net), He init elsewhere."""
        for conv in [*self.enc, *self.dec]:
            kd = conv.kernel_size[0]
            z = torch.arange(kd, dtype=torch.float32) - kd // 2
            y = torch.arange(5, dtype=torch.float32) - 2
            g = torch.exp(-(z[:, None, None] ** 2 + y[None, :, None] ** 2 + y[None, None, :] ** 2) / 2.0)
            w = g / g.sum()
            conv.weight.copy_(w.expand_as(conv.weight))
            conv.weight.add_(torch.randn_like(conv.weight) * 0.01)
            conv.bias.zero_()
        for seq in (self.fuser, self.defuser):
            for m in seq:
                if isinstance(m, nn.Conv3d):
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                    nn.init.constant_(m.bias, 0.0)

    @torch.no_grad()
    def identity_init(self) -> None:
        """Encoder and decoder as plain resampling: the encoder takes the (2x2-averaged, where strided) voxel at the
        kernel centre, the decoder interpolates linearly along depth (bilinear in space is the upsampling's), so the
        per-joint path starts as a blurred identity with the input's amplitude, not at the sparse-MSE plateau."""
        for conv, (_, p), s in zip(self.enc, self.enc_pad, self.strides):
            w = torch.zeros_like(conv.weight)
            if s == 2:
                w[0, 0, p, 2:4, 2:4] = 0.25
            else:
                w[0, 0, p, 2, 2] = 1.0
            conv.weight.copy_(w)
            conv.bias.zero_()
        p = self.kd // 2
        for conv, u in zip(self.dec, self.dec_up):
            w = torch.zeros_like(conv.weight)
            for ph in range(u):
                frac = ph / u
                w[ph, 0, p, 2, 2] = 1.0 - frac
                if frac:
                    w[ph, 0, p + 1, 2, 2] = frac
            conv.weight.copy_(w)
            conv.bias.zero_()

    @property
    def stride(self) -> int:
        return self.strides[0] * self.strides[1] * self.strides[2]

    def _act(self, x: torch.Tensor, slope: float) -> torch.Tensor:
        return F.leaky_relu(x, slope) if slope > 0 else F.relu(x)

    def _seq(self, seq: nn.Sequential, x: torch.Tensor, last_slope: float) -> torch.Tensor:
        convs = [m for m in seq if isinstance(m, nn.Conv3d)]
        for k, conv in enumerate(convs):
            x = self._act(conv(x), last_slope if k == len(convs) - 1 else self.hidden_slope)
        return x

    def features(self, volumes: torch.Tensor) -> torch.Tensor:
        """The encoder's per-joint maps ``(B, J, C, h, w)``, before the fuser (zero-padded as :meth:`VHA.encode`)."""
        b, j, d, h, w = volumes.shape
        s = self.stride
        x = volumes.reshape(b * j, 1, d, h, w)
        pad_h, pad_w = -h % s, -w % s
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        for conv in self.enc:
            x = self._act(_tied_conv(x, conv), self.hidden_slope).unsqueeze(1)
        return x.reshape(b, j, *x.shape[2:])

    def unfeatures(self, maps: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """The decoder from per-joint maps ``(B, J, C, h, w)`` (after the defuser) to volumes, cropped to ``size``."""
        b, j = maps.shape[:2]
        x = maps.reshape(b * j, 1, *maps.shape[2:])
        last = len(self.dec) - 1
        for k, (conv, (_, cout), scale) in enumerate(zip(self.dec, self.dec_shapes, self.dec_scale)):
            y = _tied_conv(x, conv)[:, :cout]  # (N, C * u, h, w), phases interleaved along depth
            if scale > 1:
                y = F.interpolate(y, scale_factor=scale, mode="bilinear", align_corners=False)
            x = self._act(y, self.output_slope if k == last else self.hidden_slope).unsqueeze(1)
        x = x.reshape(b, j, *x.shape[2:])
        return x if size is None else x[..., : size[0], : size[1]]

    def encode(self, volumes: torch.Tensor) -> torch.Tensor:
        """As :meth:`VHA.encode`: ``(B, J, D, H', W')`` -> ``(B, 1, C, h, w)``."""
        return self._seq(self.fuser, self.features(volumes), last_slope=self.hidden_slope)

    def decode(self, code: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """As :meth:`VHA.decode`: ``(B, 1, C, h, w)`` -> ``(B, J, D, h*S, w*S)``, cropped to ``size``."""
        return self.unfeatures(self._seq(self.defuser, code, last_slope=self.hidden_slope), size)

    def forward(self, volumes: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(volumes), volumes.shape[-2:])

    @torch.no_grad()
    def to_vha(self) -> VHA:
        """The equivalent untied :class:`~loco.models.VHA` (Toeplitz / polyphase weights written out)."""
        vha = VHA(self.version, self.joints, self.depth_bins)
        enc = [m for m in vha.encoder if isinstance(m, nn.Conv2d)]
        dec = [m for m in vha.decoder if isinstance(m, nn.Conv2d)]
        for conv2d, conv3d, (r, p) in zip(enc, self.enc, self.enc_pad):
            k = conv3d.weight[0, 0]  # (kd, 5, 5)
            cout, cin = conv2d.out_channels, conv2d.in_channels
            w = torch.zeros_like(conv2d.weight)
            o = torch.arange(cout)
            for t in range(self.kd):
                i = r * o + t - p
                ok = (i >= 0) & (i < cin)
                w[o[ok], i[ok]] = k[t]
            conv2d.weight.copy_(w)
            conv2d.bias.fill_(float(conv3d.bias[0]))
        p = self.kd // 2
        for conv2d, conv3d, u in zip(dec, self.dec, self.dec_up):
            cout, cin = conv2d.out_channels, conv2d.in_channels
            w = torch.zeros_like(conv2d.weight)
            o = torch.arange(cout)
            for t in range(self.kd):
                i = o // u + t - p
                ok = (i >= 0) & (i < cin)
                w[o[ok], i[ok]] = conv3d.weight[o[ok] % u, 0, t]
            conv2d.weight.copy_(w)
            conv2d.bias.copy_(conv3d.bias[o % u])
        vha.fuser.load_state_dict(self.fuser.state_dict())
        vha.defuser.load_state_dict(self.defuser.state_dict())
        return vha
