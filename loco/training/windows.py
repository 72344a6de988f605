"""``loco train vha --recipe windows``: the VHA trained as a :class:`~loco.training.coarse.CoarseVHA` on depth windows,
with losses on the peaks themselves.

Why: the plain recipe (:mod:`loco.training.vha`) runs the whole 316-bin VHA on every crop and minimises the MSE of the
volume; on a CPU that is about a second for one 32 x 32 crop, and the MSE is dominated by the easy background while
the Table 2 metric is decided at the peaks. Here

* the network is a :class:`~loco.training.coarse.CoarseVHA` (weights tied along depth at the code stride, written
  out exactly as a VHA at the end), run on windows of ``window_depth`` code positions (``S * window_depth`` bins)
  by ``crop`` voxels, placed on a random joint of a random synthetic frame: the cost grows with the window, and the
  window sees only the few bins where that frame has joints. The loss ignores ``depth_margin`` bins and
  ``margin`` voxels at the window's edges, where the window differs from the whole volume (zeros outside);
* with ``exact_borders`` (the default) windows also overhang the frame by up to half a crop, and the network runs on
  each window's part inside the frame (:meth:`CoarseVHA.forward` with ``boxes``): its layers then zero-pad at the
  frame's borders exactly as the whole-frame VHA does, and the loss counts the voxels up to those borders and up to
  the volume's first and last bins. Without it the borders were never trained as such: on held-out full-HD frame 0,
  1,100 of v1's 1,104 spurious peaks (v2: 23 of 23, v3: 59 of 60) lay within 2 voxels of the frame's border or in
  the volume's first or last 8 bins (``scripts/vha_cpu/false_peaks.py``);
* the loss is ``mse + peak_weight * peak + fp_weight * fp`` on every window (``B`` = ``batch_size`` of them):

  - ``mse``: ``1000 * mean((y - H)^2)`` as the plain recipe;
  - ``peak``: for every peak ``p`` of the target (the Table 2 ground truth), ``relu(0.5 - y(p))`` plus, for each of
    its 6 neighbours ``q``, ``relu(peak_margin - (y(p) - y(q)))``: the output must have a strict maximum above the
    threshold exactly there (averaged over the peaks);
  - ``fp``: for every local maximum of the output above 0.08 that is not a target peak of the same joint type,
    ``relu(y(x) - 0.05)`` (summed, divided by the number of target peaks): the false peaks, which on full frames
    are mostly other joint types' joints leaking through the 14-to-1 code;
* with ``ridge_weight`` > 0 the loss adds ``ridge_weight * ridge``: for every target peak ``p`` and each voxel ``e``
  diagonal to it (12 edges and 8 corners of its 3x3x3 neighbourhood), ``relu(0.02 - (max_i y(i) - y(e)))`` over the
  6-neighbours ``i`` of ``e`` one step nearer ``p`` (divided by the number of target peaks). The 6-connected peak
  search compares a voxel with its face neighbours only, so a flat-topped output blob leaves a second maximum
  diagonal to the first: of the bundled v2's unmatched peaks at 2 voxels on held-out frames, half lie at such an
  offset (sqrt 2 or sqrt 3) from another output peak of their joint type (``scripts/vha_cpu/twins.py``);
* with ``isolation_power`` > 0 a window placed on a joint picks it with probability proportional to
  ``n ** -isolation_power`` (:func:`isolation_weights`, ``n`` the frame's joints within ``isolation_radius`` voxels):
  uniform picks put most windows on crowds of far people, while the joints a v2 VHA places worst are near and
  isolated ones;
* with ``grid_jitter`` each window's frame is cut by ``0 .. stride - 1`` rows at the bottom and columns at the right
  (:meth:`WindowSampler.trimmed`): full-HD frames have 135 rows and the pipeline's 34, 3 and 2 modulo the v2
  stride of 4, so a grid whose height is a multiple of 4 (540 x 960's 68 rows, or 136) has a bottom border the
  network never trained on, where stage Y3's biases alone made peaks on an empty volume; ``end_windows`` places
  that fraction of the windows at the volume's first or last code positions (anywhere in the frame), where the
  same spurious peaks sat (depth bins 311-312) and which windows on people rarely reach;
* with ``empty_weight`` > 0 the loss of every 4th step adds ``empty_weight * sum(relu(y - 0.02))`` of the output on
  an all-zero volume of the whole depth by 8-32 x 8-32 voxels (:func:`empty_loss`): the grid jitter and end
  windows alone left stage Y3's empty-volume peaks at 0.113 after 2,000 steps (stage Y4), as the configurations
  that make them are rare among windows;
* with ``untie`` the network gets a kernel set per code position (:meth:`CoarseVHA.untie`: the tied kernels plus
  per-position offsets starting at zero) and each window runs the kernels of its own positions (``starts`` of
  :meth:`CoarseVHA.forward`): the weights may then depend on depth, as the paper's VHA's do, while every window
  still trains the shared kernels too. Validation and :meth:`CoarseVHA.reconstruct` then run the dense 2-D
  convolutions of the whole depth (the exported VHA's cost);
* a fraction ``small_fraction`` of the frames are at a quarter of ``image_size`` (270 x 480 for full HD), the Code
  Predictor's grid, so the network serves both Table 2's full-HD grid and the pipeline's.

Frames come from :class:`~loco.training.vha.FrameCache` (frame ``i`` is a function of ``(seed, i)``; each step shows
``B`` different frames, each frame in ``windows_per_frame`` consecutive steps, 4 by default) and window placement from
:func:`~loco.training.trainer.step_rng`, so the batches of step ``t`` depend on ``(seed, t)`` only and ``--resume`` is
bit for bit. Validation: Table 2 on ``val_frames`` full held-out frames at ``image_size`` through
:meth:`CoarseVHA.reconstruct` (the same function as the exported VHA, 15x cheaper).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from loco import ops
from loco.metrics import DetectionMeter
from loco.training.coarse import CoarseVHA, from_tied, load_coarse, resolve_coarse
from loco.training.config import VHAConfig
from loco.training.sampler import HeatmapSampler
from loco.training.trainer import Trainer, seed_everything, step_rng
from loco.training.vha import VOXEL_THRESHOLDS, FrameCache, _peak_rows, _summary, heldout_volumes

__all__ = ["train_vha_windows", "build_coarse", "window_losses", "evaluate_coarse", "isolation_weights", "empty_loss"]

#: Output peaks above this count as detections for the false-peak loss (below the 0.1 test threshold, for margin).
FP_THRESHOLD = 0.08
#: ``ridge_weight``'s hinge: a voxel diagonal to a target peak must be this much below its higher neighbour towards
#: the peak (a fifth of the 0.1 detection threshold; a sigma-2 target falls by ~0.1 from a face to an edge voxel and
#: from an edge to a corner, and a decoded blob about 0.6 high by ~0.06).
RIDGE_MARGIN = 0.02
#: ``ridge_weight``'s voxels: each offset from a target peak with two or three nonzero axes (12 edges, 8 corners), with
#: its 6-neighbours one step nearer the peak (2 faces for an edge, 3 edges for a corner).
_RIDGE = tuple(
    (off, tuple(tuple(0 if a == k else off[a] for a in range(3)) for k in range(3) if off[k]))
    for off in ((a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1))
    if sum(x != 0 for x in off) >= 2
)
#: ``empty_weight``'s penalty counts the output above this on an all-zero volume (well below the 0.1 threshold).
EMPTY_MARGIN = 0.02
#: ``empty_weight``'s all-zero volumes have this many rows and columns (each drawn per step): every residue mod 4.
EMPTY_SIZES = (8, 32)
#: ``empty_weight``'s term is added every this many steps (it costs ~0.05-0.2 s, a windows step ~0.35 s).
EMPTY_EVERY = 4


def build_coarse(config: VHAConfig) -> CoarseVHA:
    """The starting network: ``config.init`` is ``"identity"`` (:meth:`CoarseVHA.identity_init`), a
    :class:`~loco.training.tied.TiedVHA` checkpoint (name in ``loco/weights/tied_vha2_cpu`` or path), a CoarseVHA
    safetensors file, a run folder holding ``coarse.safetensors`` or a bundled CoarseVHA's name (``"vha2"``: the one
    in ``loco/weights/coarse_cpu``, :func:`~loco.training.coarse.resolve_coarse`); ``config.fuser_init`` optionally
    copies the fuser and defuser of another CoarseVHA file."""
    init = config.init or "identity"
    if init == "identity":
        model = CoarseVHA(config.version, first_pad=config.first_pad, kernel=config.kernel).identity_init()
        with torch.no_grad():
            for w in model.weights.values():
                w.add_(torch.randn_like(w) * 1e-3)  # break the exact symmetries of the resampling kernels
    elif (coarse := _coarse_path(init)) is not None:
        model = load_coarse(coarse)
    else:
        from loco.training.tied import load_tied

        model = from_tied(load_tied(init), first_pad=config.first_pad, kernel=config.kernel)
    if model.version != config.version:
        raise ValueError(f"init {init!r} is a version-{model.version} VHA, the config asks for {config.version}")
    if config.fuser_init:
        src = load_coarse(config.fuser_init)
        model.fuser.load_state_dict(src.fuser.state_dict())
        model.defuser.load_state_dict(src.defuser.state_dict())
    model.bypass_fuser = config.bypass_fuser
    return model.untie() if config.untie else model


def _coarse_path(spec: str) -> Path | None:
    """The CoarseVHA file ``spec`` names (:func:`~loco.training.coarse.resolve_coarse`: a run folder, a file, a
    bundled name), or None when it names none (then it is a tied checkpoint)."""
    from safetensors import safe_open

    try:
        path = resolve_coarse(spec)
    except FileNotFoundError:
        return None
    if path.suffix != ".safetensors":
        return None
    with safe_open(str(path), "pt") as f:
        return path if "config" in (f.metadata() or {}) else None


class WindowSampler:
    """Depth windows of the heatmaps of synthetic frames (module docstring)."""

    def __init__(self, config: VHAConfig, model: CoarseVHA) -> None:
        h, w = config.image_size
        self.samplers = [
            HeatmapSampler(config.preset, (h, w), crop=(10**6, 10**6), snap=config.snap),
            HeatmapSampler(config.preset, (max(8, h // 4), max(8, w // 4)), crop=(10**6, 10**6), snap=config.snap),
        ]
        self.config, self.S, self.P, self.joints = config, model.S, model.P, model.joints
        self.depth = model.S * config.window_depth
        self.stride = model.stride
        self.crop = tuple(int(c) for c in config.crop)
        if config.window_depth > model.P:
            raise ValueError(f"window_depth must be <= {model.P} code positions, got {config.window_depth}")
        if any(c % model.stride for c in self.crop):
            raise ValueError(f"crop must be a multiple of the VHA stride {model.stride}, got {self.crop}")
        every = round(1 / config.small_fraction) if config.small_fraction > 0 else 0
        self.every = every
        self.per_frame = config.windows_per_frame  # the ranges of these options are VHAConfig's checks
        self.caches = {}
        self._weights: dict[int, tuple[torch.Tensor, np.ndarray]] = {}  # :meth:`_isolation`

    def frame(self, rank: int, index: int):
        small = int(self.every > 0 and index % self.every == 0)
        key = (rank, small)
        if key not in self.caches:
            self.caches[key] = FrameCache(
                self.samplers[small],
                self.config.seed * 1000 + 2 * rank + small + 1,
                size=2 * self.config.batch_size + 2,
            )
        return self.caches[key](index), small

    def size(self, small: int) -> tuple[int, int]:
        """The ``(H', W')`` grid of the frames of kind ``small``."""
        grid = self.samplers[small].grid
        return grid.height, grid.width

    def trimmed(self, rng: np.random.Generator, small: int) -> tuple[int, int] | None:
        """With ``grid_jitter``, the frame's grid cut by ``0 .. stride - 1`` rows at the bottom and columns at the
        right (drawn from ``rng``), so the network meets every residue of the frame size modulo its stride at those
        borders; ``None`` (the whole grid, no draw) without."""
        if not self.config.grid_jitter:
            return None
        gh, gw = self.size(small)
        return gh - int(rng.integers(self.stride)), gw - int(rng.integers(self.stride))

    def window(
        self, rng: np.random.Generator, centers: torch.Tensor, small: int, size: tuple[int, int] | None = None
    ) -> tuple[int, int, int]:
        """The window's first bin, row and column ``(d0, v0, u0)`` in a frame of kind ``small`` whose grid is
        ``size`` (default: the whole grid, :meth:`trimmed`)."""
        gh, gw = size or self.size(small)
        h, w = self.crop
        pw = self.config.window_depth
        (lo_v, hi_v), (lo_u, hi_u) = self._start_range((gh, gw))
        if self.config.exact_borders:
            rand_v, rand_u = (lo_v, hi_v), (lo_u, hi_u)
        else:
            rand_v, rand_u = (0, max(0, gh - h)), (0, max(0, gw - w))
        at_end = self.config.end_windows > 0 and rng.random() < self.config.end_windows
        if not at_end and len(centers) and rng.random() < self.config.person_crop:
            a = centers[self.pick(rng, centers)]
            d0 = round(float(a[0]) / self.S - pw / 2 + rng.uniform(-pw / 4, pw / 4))
            v0 = round(float(a[1]) - h / 2 + rng.uniform(-h / 4, h / 4))
            u0 = round(float(a[2]) - w / 2 + rng.uniform(-w / 4, w / 4))
        else:
            if at_end:  # the volume's first or last code positions (the far end is mostly empty)
                d0 = self.P - pw if rng.random() < 0.5 else 0
            else:
                d0 = int(rng.integers(0, self.P - pw + 1))
            v0, u0 = int(rng.integers(rand_v[0], rand_v[1] + 1)), int(rng.integers(rand_u[0], rand_u[1] + 1))
        return self.placed(d0, v0, u0, (gh, gw))

    def _start_range(self, size: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
        """The first row's and first column's ``(lowest, highest)`` in a frame whose grid is ``size``."""
        (gh, gw), (h, w) = size, self.crop
        if self.config.exact_borders:
            # windows overhang the frame by up to half a crop (the network runs on their part inside it), aligned
            # to the VHA stride so that part is laid out as on the whole frame; random ones anywhere in that range
            s = self.stride
            ov_h, ov_w = (h // 2) // s * s, (w // 2) // s * s
        else:
            # windows may overhang the frame border by the loss margin only; random ones lie inside the frame
            ov_h = ov_w = self.config.margin
        return (-ov_h, max(-ov_h, gh - h + ov_h)), (-ov_w, max(-ov_w, gw - w + ov_w))

    def placed(self, d0: int, v0: int, u0: int, size: tuple[int, int]) -> tuple[int, int, int]:
        """A window wanted at first code position ``d0``, row ``v0`` and column ``u0`` as :meth:`window` places it in
        a frame whose grid is ``size``: moved inside the range windows may take (and aligned to the VHA stride with
        ``exact_borders``); returns its first bin, row and column."""
        (lo_v, hi_v), (lo_u, hi_u) = self._start_range(size)
        d0 = int(np.clip(d0, 0, self.P - self.config.window_depth))
        v0, u0 = int(np.clip(v0, lo_v, hi_v)), int(np.clip(u0, lo_u, hi_u))
        if self.config.exact_borders:
            v0, u0 = v0 // self.stride * self.stride, u0 // self.stride * self.stride
        return d0 * self.S, v0, u0

    def pick(self, rng: np.random.Generator, centers: torch.Tensor) -> int:
        """The joint a window is placed on: uniform, or with ``isolation_power`` > 0 with probability proportional to
        ``n ** -isolation_power`` (``n``: joints within ``isolation_radius`` voxels, itself included)."""
        if self.config.isolation_power == 0:
            return int(rng.integers(len(centers)))
        return int(rng.choice(len(centers), p=self._isolation(centers)))

    def _isolation(self, centers: torch.Tensor) -> np.ndarray:
        """:func:`isolation_weights` of a frame's centres, kept while the frame serves its windows: a frame serves
        ``windows_per_frame`` steps, and the pairwise distances cost tens of ms for a crowded frame."""
        hit = self._weights.get(id(centers))
        if hit is not None and hit[0] is centers:  # the entry holds the tensor, so its id is not reused meanwhile
            return hit[1]
        w = isolation_weights(centers, self.config)
        if len(self._weights) >= 4 * self.config.batch_size + 4:
            self._weights.pop(next(iter(self._weights)))
        self._weights[id(centers)] = (centers, w)
        return w

    def box(self, v0: int, u0: int, small: int, size: tuple[int, int] | None = None) -> tuple[int, int, int, int]:
        """The part of the window at ``(v0, u0)`` inside its frame (grid ``size``, default the whole grid):
        ``(top, bottom, left, right)`` in the window."""
        gh, gw = size or self.size(small)
        h, w = self.crop
        return max(0, -v0), min(h, gh - v0), max(0, -u0), min(w, gw - u0)

    def valid(
        self, d0: int, v0: int, u0: int, small: int, size: tuple[int, int] | None = None
    ) -> tuple[tuple[int, int, int, int], torch.Tensor]:
        """The window's part inside its frame (:meth:`box`) and the voxels its loss counts ``(1, S*Pw, h, w)``:
        inside the frame and away from the window's edges by the margins, except at edges that are the frame's (or
        the volume's first or last bin), which the exact forward reproduces."""
        box, (z0, z1, r0, r1, c0, c1) = self._valid_box(d0, v0, u0, small, size)
        mask = torch.zeros(1, self.depth, *self.crop)
        mask[:, z0:z1, r0:r1, c0:c1] = 1.0
        return box, mask

    def _valid_box(
        self, d0: int, v0: int, u0: int, small: int, size: tuple[int, int] | None = None
    ) -> tuple[tuple, tuple]:
        """:meth:`valid` as ``(box, (z0, z1, r0, r1, c0, c1))``: the loss counts ``[z0:z1, r0:r1, c0:c1]``."""
        gh, gw = size or self.size(small)
        h, w = self.crop
        top, bottom, left, right = self.box(v0, u0, small, size)
        ms, md = self.config.margin, self.config.depth_margin
        r0 = top if v0 <= 0 else ms
        r1 = bottom if v0 + h >= gh else h - ms
        c0 = left if u0 <= 0 else ms
        c1 = right if u0 + w >= gw else w - ms
        z0 = 0 if d0 == 0 else md
        z1 = self.depth if d0 + self.depth >= self.S * self.P else self.depth - md
        return (top, bottom, left, right), (z0, z1, r0, r1, c0, c1)

    def batch(self, step: int, rank: int, device) -> tuple:
        """``(volumes (B, J, S*Pw, h, w), inside (B, 1, 1, h, w), boxes, valid, starts)``: the windows, which voxels
        lie in the frame, with ``exact_borders`` each window's part inside its frame ``(B, 4)`` and the voxels its
        loss counts ``(B, 1, S*Pw, h, w)`` (both ``None`` without), and each window's first code position ``(B,)``."""
        rng = step_rng(self.config.seed, step, rank)
        b_n = self.config.batch_size
        cs, js, bs, boxes, valid, starts = [], [], [], [], [], []
        inside = torch.zeros(b_n, 1, 1, *self.crop)
        for b in range(b_n):
            (centers, joints), small = self.frame(rank, (step // self.per_frame) * b_n + b)
            size = self.trimmed(rng, small)
            d0, v0, u0 = self.window(rng, centers, small, size)
            starts.append(d0 // self.S)
            c = torch.round(centers) if self.config.snap else centers
            cs.append(c - torch.tensor([float(d0), float(v0), float(u0)]))
            js.append(joints)
            bs.append(torch.full((len(joints),), b, dtype=torch.int64))
            top, bottom, left, right = self.box(v0, u0, small, size)
            inside[b, :, :, top:bottom, left:right] = 1.0
            if self.config.exact_borders:
                box, ranges = self._valid_box(d0, v0, u0, small, size)
                boxes.append(box)
                valid.append(ranges)
        # rendered on the training device (the Triton kernel on CUDA): only the joints travel, not the volume
        dev = torch.device(device)
        vol = ops.render_heatmaps(
            torch.cat(cs).to(dev),
            torch.cat(js).to(dev),
            (self.joints, self.depth, *self.crop),
            sigma=self.config.sigma,
            batch_index=torch.cat(bs).to(dev),
            batch_size=b_n,
        )
        inside = inside.to(dev)
        starts_t = torch.tensor(starts, dtype=torch.int64)
        if not self.config.exact_borders:
            return vol * inside, inside, None, None, starts_t
        valid_t = torch.zeros(b_n, 1, self.depth, *self.crop, device=dev)  # built where it is used: 0.7 MB a window
        for b, (z0, z1, r0, r1, c0, c1) in enumerate(valid):
            valid_t[b, :, z0:z1, r0:r1, c0:c1] = 1.0
        boxes_t = torch.tensor(boxes, dtype=torch.int64)
        return vol * inside, inside, boxes_t, valid_t, starts_t


def isolation_weights(centers: torch.Tensor, config: VHAConfig) -> np.ndarray:
    """``(N,)`` probabilities of placing a window on each of a frame's ``(N, 3)`` joint centres
    (:meth:`WindowSampler.pick`): ``n ** -config.isolation_power`` normalised, ``n`` the joints within
    ``config.isolation_radius`` voxels (depth bins, rows, columns)."""
    c = centers.double()
    n = (torch.cdist(c, c) <= config.isolation_radius).sum(1).double()
    w = n.pow(-config.isolation_power).numpy()
    return w / w.sum()


def _interior(x: torch.Tensor, md: int, ms: int) -> torch.Tensor:
    return x[:, :, md : x.shape[2] - md, ms : x.shape[3] - ms, ms : x.shape[4] - ms]


class _Surrogate(torch.autograd.Function):
    """``value`` (a detached scalar) whose gradient with respect to ``x`` is the precomputed ``grad``: the window loss
    computes its gradient in closed form (:func:`window_losses`), so autograd does not build and fill a full-size
    gradient buffer for every term (the squared error, each of the 7 peak gathers, the false-peak gather)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, value: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(grad)
        ctx.dtype = x.dtype
        return value.clone()

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        (grad,) = ctx.saved_tensors
        return (grad * g).to(ctx.dtype), None, None


def window_losses(
    out: torch.Tensor, target: torch.Tensor, inside: torch.Tensor, config: VHAConfig, valid: torch.Tensor | None = None
) -> dict:
    """The loss terms of one batch of windows (module docstring): ``mse``, ``peak``, ``fp`` (detached values),
    ``peaks`` (count), ``ridge`` (only with ``config.ridge_weight`` > 0) and
    ``loss = mse + config.peak_weight * peak + config.fp_weight * fp + config.ridge_weight * ridge``, differentiable in
    ``out``.

    ``valid`` ``(B, 1, D, h, w)``, when given, is where the loss counts (:meth:`WindowSampler.valid`, with
    ``exact_borders``); without it, the voxels inside the frame and ``margin``/``depth_margin`` away from every edge.

    The gradient is written out rather than left to autograd (the same function: ``tests/test_windows.py`` checks it
    against the autograd formulation): ``2000 * (y - H) * valid / count`` for the squared error, plus ``-1`` at a
    target peak below 0.5, ``-1``/``+1`` at a peak and its neighbour whose margin is short, ``+1`` at a false peak
    above 0.05, ``+1``/``-1`` at a diagonal voxel and its higher inner neighbour whose ridge margin is short (each
    times its weight over the number of peaks). Autograd's version cost ~40 % of a CPU step.
    """
    if valid is None:
        md, ms = config.depth_margin, config.margin
        o, t = _interior(out, md, ms), _interior(target, md, ms)
        weight, count = _interior(inside, 0, ms), float(o.numel())
    else:
        o, t, weight = out, target, valid
        count = float(valid.sum()) * out.shape[1]
    count = max(count, 1.0)
    with torch.no_grad():
        od = o.detach().float()
        grad = (od - t).mul_(weight).contiguous()  # weight is a 0/1 mask: (y - H)^2 * w = ((y - H) * w)^2
        mse = torch.linalg.vector_norm(grad).square() * (1000.0 / count)
        grad.mul_(2000.0 / count)
        gt = ops.find_peaks(t.detach().float().contiguous(), threshold=0.1)
        b, j, (d, v, u) = gt.batch, gt.joint, gt.index.T
        if valid is not None:  # the target peaks the loss counts
            keep = valid[b, 0, d, v, u] > 0
            b, j, d, v, u = b[keep], j[keep], d[keep], v[keep], u[keep]
        n = max(1, len(b))
        shape = o.shape
        flat = grad.view(-1)

        def at(bb, jj, dd, vv, uu):
            return (((bb * shape[1] + jj) * shape[2] + dd) * shape[3] + vv) * shape[4] + uu

        centre = od[b, j, d, v, u]
        centre_at = at(b, j, d, v, u)
        short = 0.5 - centre
        peak = short.clamp_min(0).sum()
        low = short > 0
        rows, coefs = [centre_at[low]], [torch.full((int(low.sum()),), -1.0)]
        for axis in range(3):
            for sign in (-1, 1):
                idx = [d, v, u]
                idx[axis] = idx[axis] + sign
                ok = (idx[axis] >= 0) & (idx[axis] < shape[2 + axis])
                nb = od[b[ok], j[ok], idx[0][ok], idx[1][ok], idx[2][ok]]
                gap = config.peak_margin - (centre[ok] - nb)
                peak += gap.clamp_min(0).sum()
                hit = gap > 0
                nb_at = at(b[ok], j[ok], idx[0][ok], idx[1][ok], idx[2][ok])
                rows += [centre_at[ok][hit], nb_at[hit]]
                coefs += [torch.full((int(hit.sum()),), -1.0), torch.full((int(hit.sum()),), 1.0)]
        ridge, ridge_rows, ridge_coefs = od.new_zeros(()), [], []
        if config.ridge_weight > 0:
            for off, inner in _RIDGE:
                idx = [d + off[0], v + off[1], u + off[2]]
                ok = torch.ones_like(d, dtype=torch.bool)
                for a in range(3):
                    ok &= (idx[a] >= 0) & (idx[a] < shape[2 + a])
                bb, jj, ii = b[ok], j[ok], [x[ok] for x in idx]
                outer = od[bb, jj, ii[0], ii[1], ii[2]]
                # the inner neighbours lie between the peak and ``off``: inside whenever ``off`` is
                cand = [[d[ok] + q[0], v[ok] + q[1], u[ok] + q[2]] for q in inner]
                best, arg = torch.stack([od[bb, jj, c[0], c[1], c[2]] for c in cand]).max(0)
                gap = RIDGE_MARGIN - (best - outer)
                ridge += gap.clamp_min(0).sum()
                hit = gap > 0
                inner_at = torch.stack([at(bb, jj, *c) for c in cand]).gather(0, arg[None])[0]
                k = int(hit.sum())
                ridge_rows += [at(bb, jj, *ii)[hit], inner_at[hit]]
                ridge_coefs += [torch.full((k,), 1.0), torch.full((k,), -1.0)]
        pred = ops.find_peaks(od.contiguous(), threshold=FP_THRESHOLD)

        def key(bb, jj, ii):
            return ((bb * 64 + jj) * 4096 + ii[:, 0]) * 2**20 + ii[:, 1] * 1024 + ii[:, 2]

        false = ~torch.isin(key(pred.batch, pred.joint, pred.index), key(gt.batch, gt.joint, gt.index))
        pi = pred.index
        if valid is not None:
            false &= valid[pred.batch, 0, pi[:, 0], pi[:, 1], pi[:, 2]] > 0
        fb, fj, fi = pred.batch[false], pred.joint[false], pi[false]
        fv = od[fb, fj, fi[:, 0], fi[:, 1], fi[:, 2]]
        fp = (fv - 0.05).clamp_min(0).sum()
        peak_scale, fp_scale = config.peak_weight / n, config.fp_weight / n
        flat.index_put_((torch.cat(rows),), torch.cat(coefs).to(flat.device) * peak_scale, accumulate=True)
        if ridge_rows:
            coef = torch.cat(ridge_coefs).to(flat.device) * (config.ridge_weight / n)
            flat.index_put_((torch.cat(ridge_rows),), coef, accumulate=True)
        fp_at = at(fb, fj, fi[:, 0], fi[:, 1], fi[:, 2])[fv > 0.05]
        flat.index_put_((fp_at,), torch.full((len(fp_at),), fp_scale, device=flat.device), accumulate=True)
        total = mse + config.peak_weight * peak / n + config.fp_weight * fp / n + config.ridge_weight * ridge / n
    loss = _Surrogate.apply(o, total, grad)
    terms = {"mse": mse, "peak": peak / n, "fp": fp / n, "peaks": float(len(b)), "loss": loss}
    if config.ridge_weight > 0:
        terms["ridge"] = ridge / n
    return terms


def empty_loss(model: CoarseVHA, step: int, config: VHAConfig) -> torch.Tensor:
    """``empty_weight``'s term: ``sum(relu(y - EMPTY_MARGIN))`` of the network's output ``y`` on an all-zero volume
    of all ``P`` code positions by ``h x w`` voxels (:meth:`CoarseVHA.reconstruct`, the whole-volume function),
    ``h`` and ``w`` drawn in ``EMPTY_SIZES`` from the step's rng
    (stream 1, so the windows' draws are unchanged). On an empty input the output is the biases' alone, and a peak
    above 0.1 there is a false detection on every frame without people; it depends on the volume's ends and on the
    grid size modulo the stride at the bottom and right borders, which the windows rarely or never show."""
    rng = step_rng(config.seed, step, 0, stream=1)
    h, w = (int(x) for x in rng.integers(EMPTY_SIZES[0], EMPTY_SIZES[1] + 1, size=2))
    device = next(model.parameters()).device
    zeros = torch.zeros(1, model.joints, model.P * model.S, h, w, device=device)
    return (model.reconstruct(zeros) - EMPTY_MARGIN).clamp_min(0).sum()


@torch.no_grad()
def evaluate_coarse(
    model: CoarseVHA,
    frames: int = 4,
    *,
    preset: str = "jta",
    image_size: tuple[int, int] = (1080, 1920),
    seed: int = 10_000,
    sigma: float = 2.0,
    snap: bool = True,
) -> dict:
    """Table 2 (:func:`loco.training.vha.evaluate_vha`'s frames and protocol) through :meth:`CoarseVHA.reconstruct`."""
    meter = DetectionMeter(VOXEL_THRESHOLDS)
    hidden, output = model.hidden_slope, model.output_slope
    model.hidden_slope = model.output_slope = 0.0
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        for vol in heldout_volumes(
            frames, preset=preset, image_size=image_size, seed=seed, sigma=sigma, snap=snap, device=device
        ):
            rec = model.reconstruct(vol[:, :, : model.P * model.S])
            meter.update(_peak_rows(rec)[0], _peak_rows(vol)[0])
    finally:
        model.hidden_slope, model.output_slope = hidden, output
        model.train(was_training)
    return _summary(meter)


def train_vha_windows(config: VHAConfig, resume: str | None = None, stop_at: int | None = None) -> Trainer:
    """Train with the windows recipe; returns the :class:`Trainer` (its ``model`` is a :class:`CoarseVHA`; the
    run folder also gets ``coarse.safetensors`` at every checkpoint: the weights' moving average under ``ema``, with
    the raw weights beside it as ``coarse_raw.safetensors``)."""
    if config.freeze_code and not config.init:
        raise ValueError("freeze_code keeps the code of an init: set init to the VHA whose code is to stay")
    if config.freeze_code and config.fuser_init:
        raise ValueError(f"freeze_code keeps init's code, but fuser_init {config.fuser_init!r} replaces its fuser")
    if config.freeze_code and config.leaky_code:
        raise ValueError(
            f"freeze_code needs leaky_code 0 (got {config.leaky_code}): a leaky code layer trains the decoder on "
            "a code the exported VHA never computes"
        )
    seed_everything(config.seed)
    model = build_coarse(config)
    if config.freeze_code:
        for name in model.weights:
            if name.startswith("e"):
                model.weights[name].requires_grad_(False)
                model.biases[name].requires_grad_(False)
                if model.untied:
                    model.position_weights[name].requires_grad_(False)
                    model.position_biases[name].requires_grad_(False)
        model.fuser.requires_grad_(False)
    sampler = WindowSampler(config, model)
    out = Path(config.out)

    def hidden_slope(step: int) -> float:
        end = config.leaky_code_until * config.steps
        return config.leaky_code * max(0.0, 1.0 - step / end) if end > 0 else 0.0

    def batch_fn(step: int, rank: int, world: int, device):
        return sampler.batch(step, rank, device)

    last_empty = [0.0]

    def loss_fn(net, batch, step):
        vol, inside, boxes, valid, starts = batch
        core = net.module if hasattr(net, "module") else net
        core.hidden_slope, core.output_slope = hidden_slope(step), config.leaky_output
        out = net(vol, boxes, starts)  # a tied network ignores starts
        terms = window_losses(out, vol, inside, config, valid)
        loss = terms.pop("loss")
        if config.empty_weight > 0:
            if step % EMPTY_EVERY == 0:
                empty = empty_loss(core, step, config)
                loss = loss + config.empty_weight * empty
                last_empty[0] = float(empty.detach())
            # the latest value: the log's steps (multiples of log_every, counted from 1) rarely compute it
            terms["empty"] = last_empty[0]
        return loss, {k: float(v) for k, v in terms.items()}

    def validate(net, step):
        return evaluate_coarse(
            net,
            config.val_frames,
            preset=config.preset,
            image_size=config.image_size,
            seed=config.val_seed,
            sigma=config.sigma,
            snap=config.snap,
        )

    def on_checkpoint(net, step):
        net.save(out / "coarse.safetensors", {"step": step})
        if trainer.ema is not None:
            trainer.model.save(out / "coarse_raw.safetensors", {"step": step})

    params = None
    scaled = []  # (parameters, lr scale) groups besides the rest
    if config.fuser_lr_scale != 1.0:
        scaled.append(([*model.fuser.parameters(), *model.defuser.parameters()], config.fuser_lr_scale))
    if model.untied and config.untied_lr_scale != 1.0:
        scaled.append(([*model.position_weights.values(), *model.position_biases.values()], config.untied_lr_scale))
    if scaled:
        ids = {id(p) for group, _ in scaled for p in group}
        params = [{"params": [p for p in model.parameters() if id(p) not in ids]}]
        params += [{"params": group, "lr_scale": scale} for group, scale in scaled]
    trainer = Trainer(
        config,
        model,
        batch_fn,
        loss_fn,
        validate if config.val_frames else None,
        parameters=params,
        on_checkpoint=on_checkpoint,
    )
    if resume:
        trainer.resume(resume)
    trainer.fit(stop_at=stop_at)
    return trainer
