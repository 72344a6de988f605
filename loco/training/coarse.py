"""A VHA whose per-joint layers are tied along depth at the code's depth stride, trained on depth windows.

:class:`loco.models.VHA` sees the ``D`` depth bins as the channels of 2-D convolutions, so every channel pair has its
own 5x5 kernel. The heatmaps, though, are the same Gaussian at every depth, and the code quantises depth at a fixed
stride ``S = d3`` (4 bins for version 2): the natural weight sharing is translation along depth by ``S`` bins.
:class:`CoarseVHA` stores each per-joint layer as a small 3-D kernel over (code position, y, x) with a few feature
channels per code position, and writes out the VHA's 2-D weights as block-Toeplitz matrices:

========  =============================  =====================================  =====================
layer     VHA channels (version 2)       layout (positions x features)          tied kernel
========  =============================  =====================================  =====================
encoder0  316 -> 158                     fine bins -> 79 x 2  (F1 = d3/d1)      (F1, 1, 2*p1 + S, 5, 5)
encoder2  158 -> 79                      79 x 2 -> 79 x 1     (F2 = d3/d2)      (F2, F1, k, 5, 5)
encoder4  79 -> 79                       79 x 1 -> 79 x 1                        (1, F2, k, 5, 5)
decoder0  79 -> 79                       79 x 1 -> 79 x F2                       (F2, 1, k, 5, 5)
decoder3  79 -> 158                      79 x F2 -> 79 x F1                      (F1, F2, k, 5, 5)
decoder6  158 -> 316                     79 x F1 -> fine bins (S phases)         (S, F1, k, 5, 5)
========  =============================  =====================================  =====================

Channel ``c * F + f`` is feature ``f`` of code position ``c``; fine bin ``S * c + t - p1`` feeds position ``c`` through
tap ``t`` of the first kernel (so position ``c`` is centred on bin ``S*c + (S - 1)/2``), and decoder output bin
``S * c + phase`` is position ``c``'s phase. This is the largest weight sharing the VHA's layout allows (it contains
:class:`loco.training.tied.TiedVHA` exactly: :func:`from_tied`), and :meth:`CoarseVHA.to_vha` is the ordinary VHA
computing the same function (tested). Version 3's code has ``316 // 8 = 39`` positions covering 312 bins; the spare
channels of its VHA are zero and the last 4 bins (98.7-100 m) decode to 0.

Training runs the same block-Toeplitz convolutions on a window of ``Pw`` code positions (``S * Pw`` fine bins, any
start that is a multiple of ``S``): the cost grows with the window, not with ``D``, and a window is exactly the VHA
restricted to those bins with zeros outside (the loss is taken away from the window's depth edges).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from loco._checks import check_bool, check_choice, check_int
from loco.models import VHA
from loco.models.vha import VHA_VERSIONS
from loco.skeleton import NUM_JOINTS

__all__ = ["CoarseVHA", "from_tied", "load_coarse", "load_frozen_vha", "resolve_coarse"]


def resolve_coarse(spec: str | Path) -> Path:
    """The CoarseVHA file ``spec`` names: a run folder (its ``coarse.safetensors``), a file, or the name of a bundled
    one in ``loco/weights/coarse_cpu`` (e.g. ``"vha2"``)."""
    from loco.models._hub import WEIGHTS_DIR

    path = Path(spec)
    if path.is_dir():
        path = path / "coarse.safetensors"
    elif not path.is_file():
        path = WEIGHTS_DIR / "coarse_cpu" / f"{spec}.safetensors"
    if not path.is_file():
        raise FileNotFoundError(
            f"no CoarseVHA at {spec!r}: expected a run folder holding coarse.safetensors, a .safetensors file or a "
            f"name in {WEIGHTS_DIR / 'coarse_cpu'}"
        )
    return path


def load_coarse(path: str | Path) -> CoarseVHA:
    """A :class:`CoarseVHA` written by :meth:`CoarseVHA.save` (config in its metadata): a file, a run folder or a
    bundled name (:func:`resolve_coarse`)."""
    import json

    from safetensors import safe_open

    path = resolve_coarse(path)
    # one open for the config and the tensors
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
        state = {k: f.get_tensor(k) for k in f.keys()}
    config = json.loads(meta.get("config", "{}"))
    model = CoarseVHA(**config)
    model.load_state_dict(state)
    return model


def load_frozen_vha(spec: str | Path) -> VHA:
    """The exported :class:`~loco.models.VHA` of a CPU-recipe checkpoint, frozen and in eval mode, with ``encode``
    replaced by the checkpoint's own encoder: the same function (tests/test_tied.py, tests/test_coarse.py) at a
    third of the cost, which is what codes computed on the fly for a Code Predictor need.

    ``spec`` is a :class:`~loco.training.tied.TiedVHA` checkpoint (a name in
    :data:`~loco.training.tied.CPU_CHECKPOINTS` such as ``"C3_300"``, or a safetensors file without a ``config``
    in its metadata) or a :class:`CoarseVHA` (a run folder, a file written by :meth:`CoarseVHA.save`, or a bundled
    name such as ``"vha2"``; see :func:`resolve_coarse`). A tied name is looked up before a bundled coarse one.
    """
    from safetensors import safe_open

    from loco.training.tied import CPU_CHECKPOINTS, load_tied

    path = Path(spec)
    if path.is_file():
        with safe_open(str(path), "pt") as f:
            tied = "config" not in (f.metadata() or {})
    else:
        tied = not path.is_dir() and (CPU_CHECKPOINTS / f"{path.name}.safetensors").is_file()
    net = load_tied(spec) if tied else load_coarse(spec)
    net.eval().requires_grad_(False)
    vha = net.to_vha().eval().requires_grad_(False)
    vha.encode = net.encode if tied else net.encode3d
    return vha


class CoarseVHA(nn.Module):
    """A :class:`~loco.models.VHA` with its per-joint layers tied along depth at the code stride (module docstring).

    Args:
        version, joints, depth_bins: as :class:`~loco.models.VHA`.
        first_pad: ``p1``; the first kernel spans ``2*p1 + S`` fine bins.
        kernel: ``k`` (odd), depth extent in code positions of the other per-joint kernels.
        untied: give every code position its own per-joint kernels and biases (:meth:`untie`): the tied ones plus a
            per-position offset (``position_weights``, ``position_biases``, zero at first). The receptive field
            stays ``k`` positions, but the weights depend on depth as the paper's VHA's do. Windows then need their
            first code position (``starts`` of :meth:`forward`), and :meth:`reconstruct` runs the dense 2-D
            convolutions of the whole depth (the exported VHA's cost) instead of 3-D ones.
    """

    def __init__(
        self,
        version: int = 2,
        joints: int = NUM_JOINTS,
        depth_bins: int = 316,
        first_pad: int = 6,
        kernel: int = 5,
        untied: bool = False,
    ) -> None:
        super().__init__()
        version = check_choice("version", version, tuple(sorted(VHA_VERSIONS)))
        joints, depth_bins = check_int("joints", joints, 1), check_int("depth_bins", depth_bins, 1)
        first_pad, kernel = check_int("first_pad", first_pad, 0), check_int("kernel", kernel, 1)
        if kernel % 2 != 1:
            raise ValueError(f"kernel must be a positive odd int, got {kernel}")
        dv, st = VHA_VERSIONS[version]["divisors"], VHA_VERSIONS[version]["strides"]
        self.version, self.joints, self.depth_bins = version, joints, depth_bins
        self.first_pad, self.kernel = first_pad, kernel
        self.strides = st
        self.S = dv[2]
        self.P = depth_bins // dv[2]
        self.F1, self.F2 = dv[2] // dv[0], dv[2] // dv[1]
        self.channels = (depth_bins, depth_bins // dv[0], depth_bins // dv[1], depth_bins // dv[2])
        k1 = 2 * first_pad + self.S
        shapes = {
            "e1": (self.F1, 1, k1),
            "e2": (self.F2, self.F1, kernel),
            "e3": (1, self.F2, kernel),
            "d1": (self.F2, 1, kernel),
            "d2": (self.F1, self.F2, kernel),
            "d3": (self.S, self.F1, kernel),
        }
        self.weights = nn.ParameterDict({n: nn.Parameter(torch.zeros(*s, 5, 5)) for n, s in shapes.items()})
        self.biases = nn.ParameterDict({n: nn.Parameter(torch.zeros(s[0])) for n, s in shapes.items()})
        self.untied = check_bool("untied", untied)
        if self.untied:
            P = self.P
            self.position_weights = nn.ParameterDict(
                {n: nn.Parameter(torch.zeros(P, *s, 5, 5)) for n, s in shapes.items()}
            )
            self.position_biases = nn.ParameterDict({n: nn.Parameter(torch.zeros(P, s[0])) for n, s in shapes.items()})
        ref = VHA(version, joints, depth_bins)
        self.fuser, self.defuser = ref.fuser, ref.defuser
        #: negative slopes of the hidden activations and of the output activation while training (0 = ReLU)
        self.hidden_slope, self.output_slope = 0.0, 0.0
        #: skip the fuser and defuser (each joint's map is its own code): trains the per-joint path alone
        self.bypass_fuser = False
        self._index_cache: dict = {}

    @property
    def config(self) -> dict:
        return {
            "version": self.version,
            "joints": self.joints,
            "depth_bins": self.depth_bins,
            "first_pad": self.first_pad,
            "kernel": self.kernel,
        } | ({"untied": True} if self.untied else {})

    @property
    def stride(self) -> int:
        return self.strides[0] * self.strides[1] * self.strides[2]

    @torch.no_grad()
    def identity_init(self) -> CoarseVHA:
        """Per-joint layers as plain resampling: feature ``f`` of a code position averages its share of the
        position's bins (the 2x2 block at a stride-2 layer, so a code cell is centred like the bilinear
        upsampling's), the decoder copies each feature to the bins it covers; the fuser and defuser are left alone.
        The per-joint path then starts as a blurred identity instead of at the sparse-MSE plateau. Returns self."""
        for name in self.weights:
            self.weights[name].zero_()
            self.biases[name].zero_()

        def spatial(w, st, value):
            if st == 2:
                w[..., 2:4, 2:4] = value / 4
            else:
                w[..., 2, 2] = value

        w, c = self.weights, self.kernel // 2
        share = self.S // self.F1
        for f in range(self.F1):
            for t in range(share):
                spatial(w["e1"][f, 0, self.first_pad + f * share + t], self.strides[0], 1.0 / share)
        per = self.F1 // self.F2
        for f2 in range(self.F2):
            for f1 in range(f2 * per, (f2 + 1) * per):
                spatial(w["e2"][f2, f1, c], self.strides[1], 1.0 / per)
        for f2 in range(self.F2):
            spatial(w["e3"][0, f2, c], self.strides[2], 1.0 / self.F2)
        w["d1"][:, 0, c, 2, 2] = 1.0
        for f1 in range(self.F1):
            w["d2"][f1, f1 * self.F2 // self.F1, c, 2, 2] = 1.0
        for ph in range(self.S):
            w["d3"][ph, ph * self.F1 // self.S, c, 2, 2] = 1.0
        return self

    @torch.no_grad()
    def widened(self, kernel: int, first_pad: int | None = None) -> CoarseVHA:
        """The same function with wider depth kernels: a new CoarseVHA whose per-joint kernels are these zero-padded
        in depth (``kernel`` code positions for the layers after the first, ``2 * first_pad + S`` fine bins for the
        first; ``first_pad`` defaults to the current one). Windows training is dense over a window's depth, so the
        wider kernels cost it nothing, and they let each code position read and write further along depth, towards
        the exported VHA's full depth connectivity.
        """
        if self.untied:
            raise ValueError("widened needs a tied CoarseVHA; widen before untie()")
        kernel = check_int("kernel", kernel, 1)
        first_pad = check_int("first_pad", self.first_pad if first_pad is None else first_pad, 0)
        if kernel < self.kernel or kernel % 2 != 1:
            raise ValueError(f"kernel must be odd and at least {self.kernel}, got {kernel}")
        if first_pad < self.first_pad:
            raise ValueError(f"first_pad must be at least {self.first_pad}, got {first_pad}")
        out = CoarseVHA(self.version, self.joints, self.depth_bins, first_pad=first_pad, kernel=kernel)
        out.fuser.load_state_dict(self.fuser.state_dict())
        out.defuser.load_state_dict(self.defuser.state_dict())
        for name, w in self.weights.items():
            shift = first_pad - self.first_pad if name == "e1" else (kernel - self.kernel) // 2
            out.weights[name][:, :, shift : shift + w.shape[2]] = w
            out.biases[name].copy_(self.biases[name])
        return self._sibling(out)

    @torch.no_grad()
    def untie(self) -> CoarseVHA:
        """The same function with a kernel set per code position (``untied=True``, offsets zero): a new CoarseVHA
        whose per-position weights can then learn what depends on depth. Returns ``self`` if already untied."""
        if self.untied:
            return self
        out = CoarseVHA(
            self.version, self.joints, self.depth_bins, first_pad=self.first_pad, kernel=self.kernel, untied=True
        )
        out.load_state_dict(self.state_dict(), strict=False)
        return self._sibling(out)

    def _sibling(self, out: CoarseVHA) -> CoarseVHA:
        """``out`` (built from this network by :meth:`widened` or :meth:`untie`) with this one's activation slopes,
        fuser bypass, device and dtype."""
        out.hidden_slope, out.output_slope, out.bypass_fuser = self.hidden_slope, self.output_slope, self.bypass_fuser
        like = next(self.parameters())
        return out.to(device=like.device, dtype=like.dtype)

    def save(self, path: str | Path, metadata: dict | None = None) -> None:
        import json

        from safetensors.torch import save_file

        meta = {"config": json.dumps(self.config)} | {k: str(v) for k, v in (metadata or {}).items()}
        save_file({k: v.detach().contiguous() for k, v in self.state_dict().items()}, str(path), metadata=meta)

    # --- block-Toeplitz weights -------------------------------------------------------------------------------
    def _index(self, name: str, pw: int):
        key = (name, pw)
        if key not in self._index_cache:
            fo_n, fi_n, k = self.weights[name].shape[:3]
            if name == "e1":
                c = torch.arange(pw)[:, None, None]
                fo = torch.arange(fo_n)[None, :, None]
                i = torch.arange(self.S * pw)[None, None, :]
                t = i - self.S * c + self.first_pad
                shape = (pw, fo_n, self.S * pw)
                idx = (fo.expand(shape), torch.zeros(shape, dtype=torch.long), t.clamp(0, k - 1).expand(shape))
                valid = ((t >= 0) & (t < k)).expand(shape)
            else:
                c = torch.arange(pw)[:, None, None, None]
                fo = torch.arange(fo_n)[None, :, None, None]
                c2 = torch.arange(pw)[None, None, :, None]
                fi = torch.arange(fi_n)[None, None, None, :]
                t = c2 - c + k // 2
                shape = (pw, fo_n, pw, fi_n)
                idx = (fo.expand(shape), fi.expand(shape), t.clamp(0, k - 1).expand(shape))
                valid = ((t >= 0) & (t < k)).expand(shape)
            self._index_cache[key] = (idx, valid.to(torch.float32))
        return self._index_cache[key]

    def toeplitz(self, name: str, pw: int, start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The 2-D convolution weight ``(pw*F_out, pw*F_in, 5, 5)`` and bias of layer ``name`` on ``pw`` positions
        (``e1``'s input is ``S*pw`` fine bins) from code position ``start`` on (which matters only when untied)."""
        if self.untied and not 0 <= start <= self.P - pw:
            raise ValueError(f"positions {start}..{start + pw - 1} are outside the {self.P} code positions")
        idx, valid = self._index(name, pw)
        w = self.weights[name]
        valid = valid.to(w.device, w.dtype)
        idx = [i.to(w.device) for i in idx]
        fo_n = w.shape[0]
        if not self.untied:
            full = w[idx[0], idx[1], idx[2]]
            bias = self.biases[name].repeat(pw)
        else:  # output position c of the window uses position start + c's kernels
            wp = w[None] + self.position_weights[name][start : start + pw]
            c = torch.arange(pw, device=w.device).view(pw, *[1] * (idx[0].dim() - 1)).expand(idx[0].shape)
            full = wp[c, idx[0], idx[1], idx[2]]
            bias = (self.biases[name][None] + self.position_biases[name][start : start + pw]).reshape(-1)
        full = full * valid[..., None, None]
        return full.reshape(pw * fo_n, -1, 5, 5), bias

    # --- forward -------------------------------------------------------------------------------------------------
    def _act(self, x: torch.Tensor, slope: float) -> torch.Tensor:
        return F.leaky_relu(x, slope) if slope > 0 else F.relu(x)

    def features(self, volumes: torch.Tensor, start: int = 0) -> torch.Tensor:
        """``(B, J, S*Pw, H', W')`` -> per-joint maps ``(B, J, Pw, h, w)`` (zero-padded as :meth:`VHA.encode`); the
        window's first bin is code position ``start``'s."""
        b, j, d, h, w = volumes.shape
        if d % self.S:
            raise ValueError(f"the depth window must be a multiple of {self.S} bins, got {d}")
        pw = d // self.S
        s = self.stride
        x = volumes.reshape(b * j, d, h, w)
        if h % s or w % s:
            x = F.pad(x, (0, -w % s, 0, -h % s))
        for name, st in zip(("e1", "e2", "e3"), self.strides):
            wt, bias = self.toeplitz(name, pw, start)
            x = self._act(F.conv2d(x, wt, bias, stride=st, padding=2), self.hidden_slope)
        return x.reshape(b, j, pw, *x.shape[-2:])

    def fuse(self, maps: torch.Tensor) -> torch.Tensor:
        x = maps.contiguous(memory_format=torch.channels_last_3d)
        x = self._act(self.fuser[0](x), self.hidden_slope)
        return self._act(self.fuser[2](x), self.hidden_slope)

    def defuse(self, code: torch.Tensor) -> torch.Tensor:
        x = self._act(self.defuser[0](code.contiguous(memory_format=torch.channels_last_3d)), self.hidden_slope)
        return self._act(self.defuser[2](x), self.hidden_slope)

    def unfeatures(self, maps: torch.Tensor, size: tuple[int, int] | None = None, start: int = 0) -> torch.Tensor:
        """Per-joint maps ``(B, J, Pw, h, w)`` -> volumes ``(B, J, S*Pw, h*s, w*s)``, cropped to ``size``."""
        b, j, pw = maps.shape[:3]
        x = maps.reshape(b * j, pw, *maps.shape[3:])
        for k, (name, st) in enumerate(zip(("d1", "d2", "d3"), self.strides)):
            wt, bias = self.toeplitz(name, pw, start)
            x = F.conv2d(x, wt, bias, padding=2)
            if st > 1:
                x = F.interpolate(x, scale_factor=st, mode="bilinear", align_corners=False)
            x = self._act(x, self.output_slope if k == 2 else self.hidden_slope)
        x = x.reshape(b, j, *x.shape[1:])
        return x if size is None else x[..., : size[0], : size[1]]

    def encode(self, volumes: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.features(volumes))

    def decode(self, code: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        return self.unfeatures(self.defuse(code), size)

    def forward(
        self, volumes: torch.Tensor, boxes: torch.Tensor | None = None, starts: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(B, J, S*Pw, H', W')`` -> ``(B, J, S*Pw, H', W')``: the VHA on a depth window.

        ``boxes`` ``(B, 4)`` (top, bottom, left, right), when given, is the part of each window inside its frame: the
        network runs on that part alone (zero padding at every layer, as on the whole frame) and the output is 0
        outside it. ``starts`` ``(B,)``, each window's first code position, selects an untied network's kernels
        (default 0; a tied network ignores it). Windows with the same box and start run as one batch."""
        n, h, w = volumes.shape[0], *volumes.shape[-2:]
        if starts is not None and tuple(starts.shape) != (n,):
            raise ValueError(f"starts must be (B,) = ({n},), got {tuple(starts.shape)}")
        if boxes is not None and tuple(boxes.shape) != (n, 4):
            raise ValueError(f"boxes must be (B, 4) = ({n}, 4), got {tuple(boxes.shape)}")
        first = [0] * n if starts is None or not self.untied else [int(x) for x in starts.tolist()]
        if boxes is None and len(set(first)) == 1:
            return self._window(volumes, first[0])
        boxes_l = [(0, h, 0, w)] * n if boxes is None else [tuple(int(x) for x in r) for r in boxes.tolist()]
        rows = list(zip(boxes_l, first))
        parts, order = [], []
        for box, start in dict.fromkeys(rows):
            t, b, lft, r = box
            if not (0 <= t < b <= h and 0 <= lft < r <= w):
                raise ValueError(f"box {box} is empty or outside the {h}x{w} window")
            idx = [i for i, x in enumerate(rows) if x == (box, start)]
            y = self._window(volumes[idx, :, :, t:b, lft:r], start)
            parts.append(F.pad(y, (lft, w - r, t, h - b)))
            order += idx
        out = torch.cat(parts) if len(parts) > 1 else parts[0]
        if order != sorted(order):
            out = out[torch.tensor(order).argsort()]
        return out

    def _window(self, volumes: torch.Tensor, start: int = 0) -> torch.Tensor:
        size = tuple(volumes.shape[-2:])
        maps = self.features(volumes, start)
        if not self.bypass_fuser:
            maps = self.defuse(self.fuse(maps))
        return self.unfeatures(maps, size, start)

    def features3d(self, volumes: torch.Tensor) -> torch.Tensor:
        """:meth:`features` computed with 3-D convolutions of the tied kernels (cost linear in ``D``); an untied
        network runs :meth:`features` from position 0 instead."""
        if self.untied:
            return self.features(volumes)
        b, j, d, h, w = volumes.shape
        if d % self.S:
            raise ValueError(f"the depth window must be a multiple of {self.S} bins, got {d}")
        s = self.stride
        x = volumes.reshape(b * j, 1, d, h, w)
        if h % s or w % s:
            x = F.pad(x, (0, -w % s, 0, -h % s))
        for name, st in zip(("e1", "e2", "e3"), self.strides):
            stride = (self.S if name == "e1" else 1, st, st)
            pad = (self.first_pad if name == "e1" else self.kernel // 2, 2, 2)
            x = x.contiguous(memory_format=torch.channels_last_3d)
            x = self._act(F.conv3d(x, self.weights[name], self.biases[name], stride, pad), self.hidden_slope)
        return x.reshape(b, j, *x.shape[2:])

    def unfeatures3d(self, maps: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """:meth:`unfeatures` computed with 3-D convolutions of the tied kernels (cost linear in ``D``); an untied
        network runs :meth:`unfeatures` from position 0 instead."""
        if self.untied:
            return self.unfeatures(maps, size)
        b, j = maps.shape[:2]
        x = maps.reshape(b * j, 1, *maps.shape[2:])
        for k, (name, st) in enumerate(zip(("d1", "d2", "d3"), self.strides)):
            x = x.contiguous(memory_format=torch.channels_last_3d)
            x = F.conv3d(x, self.weights[name], self.biases[name], 1, (self.kernel // 2, 2, 2))
            if st > 1:
                n, f, p_, hh, ww = x.shape
                x = F.interpolate(x.reshape(n, f * p_, hh, ww), scale_factor=st, mode="bilinear", align_corners=False)
                x = x.reshape(n, f, p_, hh * st, ww * st)
            x = self._act(x, self.output_slope if k == 2 else self.hidden_slope)
        n, ph, p_, hh, ww = x.shape
        x = x.permute(0, 2, 1, 3, 4).reshape(b, j, p_ * ph, hh, ww)
        return x if size is None else x[..., : size[0], : size[1]]

    def encode3d(self, volumes: torch.Tensor) -> torch.Tensor:
        """:meth:`encode` with 3-D convolutions: the code ``(B, 1, P, h, w)``, as the exported VHA's."""
        return self.fuse(self.features3d(volumes))

    def reconstruct(self, volumes: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` computed with 3-D convolutions of the tied kernels: the same function (up to float
        rounding), whose cost grows with ``D`` instead of ``D^2`` (about 15x cheaper than the VHA on a full-HD
        frame); for whole-volume evaluation."""
        maps = self.features3d(volumes)
        if not self.bypass_fuser:
            maps = self.defuse(self.fuse(maps))
        return self.unfeatures3d(maps, tuple(volumes.shape[-2:]))

    @torch.no_grad()
    def to_vha(self) -> VHA:
        """The equivalent :class:`~loco.models.VHA` (block-Toeplitz weights written out, spare channels zero)."""
        vha = VHA(self.version, self.joints, self.depth_bins)
        convs = [m for m in vha.encoder if isinstance(m, nn.Conv2d)] + [
            m for m in vha.decoder if isinstance(m, nn.Conv2d)
        ]
        for conv, name in zip(convs, ("e1", "e2", "e3", "d1", "d2", "d3")):
            wt, bias = self.toeplitz(name, self.P)
            conv.weight.zero_()
            conv.bias.zero_()
            conv.weight[: wt.shape[0], : wt.shape[1]] = wt
            conv.bias[: bias.shape[0]] = bias
        vha.fuser.load_state_dict(self.fuser.state_dict())
        vha.defuser.load_state_dict(self.defuser.state_dict())
        return vha


@torch.no_grad()
def from_tied(tied, first_pad: int = 6, kernel: int = 5) -> CoarseVHA:
    """The version-2 :class:`~loco.training.tied.TiedVHA` (``depth_kernel=5``) written exactly as a :class:`CoarseVHA`.

    TiedVHA's first layer has depth stride 2 (158 positions, one feature), which is two features at stride 4; its
    second layer reads positions ``2c - 2 .. 2c + 2`` of those; its last layer has two polyphase outputs at stride
    2, i.e. four at stride 4.
    """
    if tied.version != 2 or tied.kd != 5:
        raise ValueError(f"from_tied handles version 2 with depth_kernel 5, got version {tied.version}, kd {tied.kd}")
    if first_pad < 2 or kernel < 3:
        raise ValueError("from_tied needs first_pad >= 2 and kernel >= 3")
    m = CoarseVHA(2, tied.joints, tied.depth_bins, first_pad=first_pad, kernel=kernel)
    pk = kernel // 2
    w, b = m.weights, m.biases
    k_old = tied.enc[0].weight[0, 0]
    for f in range(2):
        for t in range(5):
            w["e1"][f, 0, 2 * f - 2 + t + first_pad] = k_old[t]
        b["e1"][f] = tied.enc[0].bias[0]
    k_old = tied.enc[1].weight[0, 0]
    for t in range(5):
        c_rel, f = divmod(t - 2, 2)
        w["e2"][0, f, c_rel + pk] = k_old[t]
    b["e2"].copy_(tied.enc[1].bias)
    w["e3"][0, 0, pk - 2 : pk + 3] = tied.enc[2].weight[0, 0]
    b["e3"].copy_(tied.enc[2].bias)
    w["d1"][0, 0, pk - 2 : pk + 3] = tied.dec[0].weight[0, 0]
    b["d1"].copy_(tied.dec[0].bias)
    w["d2"][:, 0, pk - 2 : pk + 3] = tied.dec[1].weight[:, 0]
    b["d2"].copy_(tied.dec[1].bias)
    k_old = tied.dec[2].weight
    for ph in range(4):
        for t in range(5):
            c_rel, f = divmod(ph // 2 + t - 2, 2)
            w["d3"][ph, f, c_rel + pk] = k_old[ph % 2, 0, t]
        b["d3"][ph] = tied.dec[2].bias[ph % 2]
    m.fuser.load_state_dict(tied.fuser.state_dict())
    m.defuser.load_state_dict(tied.defuser.state_dict())
    return m
