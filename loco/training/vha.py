"""``loco train vha``: the Volumetric Heatmap Autoencoder on heatmaps rendered on the fly (no files on disk).

Each step renders ``batch_size`` crops (:class:`~loco.training.sampler.HeatmapSampler`) of random synthetic frames of
the preset's world and minimises the MSE between the crop and its reconstruction ``d(e(H))`` (optionally weighted up
on the target's foreground by ``fg_weight``). The Gaussian width may follow a schedule (8 -> 4 -> 2 voxels); the
evaluation always uses the final ``sigma``.

Validation and evaluation (paper Table 2): peaks of ``H`` and of ``d(e(H))`` (:func:`loco.ops.find_peaks`, threshold
0.1, 6-connected) matched per joint type within 0, 1 and 2 voxels (:func:`loco.metrics.voxel_f1`), F1 per frame then
averaged; :func:`evaluate_vha` does it on full held-out frames, the in-training validation on held-out crops.

What we learnt training v2 on a shared 2-core CPU (about 0.8 steps/s for one 14 x 316 x 32 x 32 crop in float32;
bf16 autocast measured 60-250x *slower* on that CPU, one without native bf16; on a CPU with AVX-512 bf16 the windows
recipe runs 1.4x faster with it, :mod:`loco.training.windows`):

* with PyTorch's default initialisation the code is exactly zero at step 0 on sparse heatmaps, and with plain ReLUs
  the network collapses within a few hundred steps: first the output ReLU (all zeros, no gradient), then the
  single-channel code, then the 4-channel fuser/defuser layers. Hence :func:`lsuv_init` and the leaky activations
  during training (``leaky_output``, ``leaky_code`` annealed to 0), which keep every layer alive;
* even alive, the network first learns an input-independent output (the mean heatmap) and leaves that plateau only
  slowly: the 2-D encoder convolutions see the 316 depth bins as unrelated channels, so each depth needs its own
  examples. One crop is fitted in tens of steps, but after 1,000-2,000 steps on varied crops the output was still
  input-independent; ``mix`` superimposes several frames per crop to see more depths per step. Reaching the paper's
  Table 2 takes far more steps than a CPU gives in hours (the authors trained on GPUs): use ``--device cuda --amp
  bf16 --batch-size 8`` (or torchrun) for a real run.
* what did leave the plateau on the CPU is the depth-tied network of :mod:`loco.training.tied` (every Gaussian trains
  every kernel, cheaper steps), trained in stages: the per-joint encoder/decoder alone from a resampling
  ("identity") initialisation, then the fuser/defuser against the encoder's maps from the linear regime of their
  ReLUs, then the decoder side end to end; ``scripts/vha_cpu/`` has the scripts and the log of what was run.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from loco import ops
from loco.metrics import DetectionMeter
from loco.models import VHA
from loco.training.config import VHAConfig
from loco.training.sampler import HeatmapSampler, sigma_at
from loco.training.trainer import Trainer, seed_everything, step_rng

__all__ = [
    "train_vha",
    "evaluate_vha",
    "vha_peak_f1",
    "leaky_output",
    "leaky_code",
    "lsuv_init",
    "VOXEL_THRESHOLDS",
    "FrameCache",
]

VOXEL_THRESHOLDS = (0.0, 1.0, 2.0)


class FrameCache:
    """The joints of synthetic frame ``i`` (a pure function of ``(seed, i)``), the last few kept in memory."""

    def __init__(self, sampler: HeatmapSampler, seed: int, size: int = 8) -> None:
        self.sampler, self.seed, self.size = sampler, seed, size
        self._cache: OrderedDict[int, tuple] = OrderedDict()

    def __call__(self, index: int):
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        value = self.sampler.frame(np.random.default_rng([self.seed, 1, index]))
        self._cache[index] = value
        if len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return value


def _peak_rows(volume: torch.Tensor, threshold: float = 0.1) -> list[np.ndarray]:
    peaks = ops.find_peaks(volume.float().contiguous(), threshold=threshold)
    rows = torch.cat([peaks.joint[:, None].double(), peaks.index.double()], dim=1).cpu().numpy()
    b = peaks.batch.cpu().numpy()
    return [rows[b == i] for i in range(volume.shape[0])]


def vha_peak_f1(model: VHA, volumes: torch.Tensor, meter: DetectionMeter, threshold: float = 0.1) -> None:
    """Add the voxel F1 of each volume in ``volumes (B, J, D, h, w)`` vs its reconstruction to ``meter``."""
    recon = model(volumes)
    for gt, pred in zip(_peak_rows(volumes, threshold), _peak_rows(recon, threshold)):
        meter.update(pred, gt)


def _summary(meter: DetectionMeter) -> dict:
    s = meter.summary()
    return (
        {f"f1@{t:g}": round(s[f"f1@{t:g}"], 2) for t in VOXEL_THRESHOLDS}
        | {f"precision@{t:g}": round(s[f"precision@{t:g}"], 2) for t in VOXEL_THRESHOLDS}
        | {f"recall@{t:g}": round(s[f"recall@{t:g}"], 2) for t in VOXEL_THRESHOLDS}
        | {"frames": len(meter)}
    )


def heldout_volumes(
    frames: int,
    *,
    preset: str = "jta",
    image_size: tuple[int, int] = (1080, 1920),
    seed: int = 10_000,
    sigma: float = 2.0,
    snap: bool = True,
    device="cpu",
    reuse: bool = False,
):
    """Yield the target volumes ``(1, J, D, H', W')`` of the held-out Table 2 frames: frame ``i`` is
    ``sample_scene(preset, default_rng([seed, 1, i]))`` rendered at ``sigma`` voxels on ``device``.

    ``reuse=True`` renders every frame into the first frame's buffer (each volume is overwritten by the next).
    """
    sampler = HeatmapSampler(preset, image_size, crop=(10**6, 10**6), snap=snap)
    out = None
    for i in range(frames):
        centers, joints = sampler.frame(np.random.default_rng([seed, 1, i]))
        volume = ops.render_heatmaps(
            centers.to(device), joints.to(device), sampler.grid, sigma=sigma, snap=snap, batch_size=1, out=out
        )
        if reuse:
            out = volume
        yield volume


@torch.no_grad()
def evaluate_vha(
    model: VHA,
    frames: int = 16,
    *,
    preset: str = "jta",
    image_size: tuple[int, int] = (1080, 1920),
    seed: int = 10_000,
    sigma: float = 2.0,
    snap: bool = True,
    device="cpu",
    progress: bool = False,
) -> dict:
    """Paper Table 2 on full held-out synthetic frames: F1 (and precision, recall) at 0/1/2 voxels, percent.

    Frame ``i`` is ``sample_scene(preset, default_rng([seed, 1, i]))``; training uses other seeds.
    """
    meter = DetectionMeter(VOXEL_THRESHOLDS)
    model = model.eval().to(device)
    volumes = heldout_volumes(
        frames,
        preset=preset,
        image_size=image_size,
        seed=seed,
        sigma=sigma,
        snap=snap,
        device=device,
        reuse=True,
    )
    if progress:
        from tqdm import tqdm

        volumes = tqdm(volumes, total=frames, desc="eval vha")
    for volume in volumes:
        vha_peak_f1(model, volume, meter)
    return _summary(meter)


def build_vha(config: VHAConfig) -> VHA:
    if config.init:
        return VHA.from_pretrained(config.init).train()
    return VHA(version=config.version)


def train_vha(config: VHAConfig, resume: str | None = None, stop_at: int | None = None, model: VHA | None = None):
    """Train a VHA; returns the :class:`Trainer` (its ``model`` and ``history``). ``config.recipe == "windows"``
    hands over to :func:`loco.training.windows.train_vha_windows` (the model is then a CoarseVHA)."""
    if config.recipe == "windows":
        from loco.training.windows import train_vha_windows

        return train_vha_windows(config, resume=resume, stop_at=stop_at)
    if config.recipe != "plain":
        raise ValueError(f"recipe must be 'plain' or 'windows', got {config.recipe!r}")
    sampler = HeatmapSampler(config.preset, config.image_size, config.crop, config.person_crop, config.snap)
    crops_per_frame = 4
    caches: dict[int, FrameCache] = {}

    def batch_fn(step: int, rank: int, world: int, device):
        rng = step_rng(config.seed, step, rank)
        cache = caches.setdefault(rank, FrameCache(sampler, config.seed * 1000 + rank + 1))
        sigma = sigma_at(config.sigma, config.sigma_schedule, step, config.steps)
        vols = []
        k = max(1, config.mix)
        for b in range(config.batch_size):
            # k independent streams of frames, each frame reused for crops_per_frame consecutive crops
            frames = [cache(q * 10**7 + (step * config.batch_size + b) // crops_per_frame) for q in range(k)]
            vols.append(_render_crop(sampler, rng, frames, sigma, device))
        return torch.cat(vols), sigma

    def loss_fn(model, batch, step):
        volumes, sigma = batch
        set_leaky_slope(model.module if hasattr(model, "module") else model, code_slope(step))
        recon = model(volumes)
        err = (recon.float() - volumes) ** 2
        if config.fg_weight > 0:
            err = err * (1 + config.fg_weight * volumes)
        return err.mean() * 1000.0, {"sigma": sigma}

    val_sampler = HeatmapSampler(
        config.preset, config.image_size, (2 * config.crop[0], 2 * config.crop[1]), 1.0, config.snap
    )

    def validate(model, step):
        meter = DetectionMeter(VOXEL_THRESHOLDS)
        for i in range(config.val_frames):
            rng = np.random.default_rng([config.val_seed, 2, i])
            centers, joints = val_sampler.frame(np.random.default_rng([config.val_seed, 1, i]))
            vol = _render_crop(val_sampler, rng, [(centers, joints)], config.sigma, next(model.parameters()).device)
            vha_peak_f1(model, vol, meter)
        return _summary(meter)

    seed_everything(config.seed)  # the initial weights are a function of the seed
    if model is None:
        model = build_vha(config)
        if not config.init and config.init_scheme == "lsuv":
            rng = np.random.default_rng([config.seed, 7])
            sigma0 = sigma_at(config.sigma, config.sigma_schedule, 0, config.steps)
            lsuv_init(model, sampler.sample(rng, batch_size=2, sigma=sigma0))

    def code_slope(step: int) -> float:
        end = config.leaky_code_until * config.steps
        return config.leaky_code * max(0.0, 1.0 - step / end) if end > 0 else 0.0

    def validate_relu(model, step):
        with leaky_output(model, 0.0), leaky_code(model, 0.0):
            return validate(model, step)

    trainer = Trainer(config, model, batch_fn, loss_fn, validate_relu if config.val_frames else None)
    if resume:
        trainer.resume(resume)
    with leaky_output(model, config.leaky_output), leaky_code(model, config.leaky_code):
        trainer.fit(stop_at=stop_at)
    return trainer


@torch.no_grad()
def lsuv_init(model: VHA, volumes: torch.Tensor, iters: int = 2) -> VHA:
    """Data-dependent initialisation (LSUV, Mishkin & Matas 2016) for sparse heatmaps.

    PyTorch's default initialisation shrinks the signal at every layer, and the heatmaps are sparse (a few of the
    ``316 x 25`` inputs of a first-layer unit are non-zero): at step 0 the code is exactly zero and the VHA output
    does not depend on its input, a plateau plain MSE does not leave in a few thousand steps. Here every convolution
    gets He-normal weights and zero biases, then, in forward order, its weights are rescaled until its output has unit
    standard deviation on real crops (the last one: the input's standard deviation).
    """
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d))]
    for conv in convs:
        nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
        nn.init.zeros_(conv.bias)
    target_last = float(volumes.std())
    for k, conv in enumerate(convs):
        target = target_last if k == len(convs) - 1 else 1.0
        for _ in range(iters):
            seen = {}
            handle = conv.register_forward_hook(lambda m, i, o, seen=seen: seen.__setitem__("out", o.detach().clone()))
            model(volumes)
            handle.remove()
            std = float(seen["out"].std())
            if std > 0:
                conv.weight.mul_(target / std)
    return model


def _hidden_relus(model: VHA) -> list[tuple[nn.Sequential, int]]:
    """Every activation slot of the VHA except the decoder's last (the output)."""
    slots = []
    for seq in (model.encoder, model.fuser, model.defuser, model.decoder):
        for k, mod in enumerate(seq):
            if isinstance(mod, (nn.ReLU, nn.LeakyReLU)) and not (seq is model.decoder and k == len(seq) - 1):
                slots.append((seq, k))
    return slots


@contextlib.contextmanager
def leaky_code(model: VHA, slope: float):
    """Inside the block every hidden ReLU of the VHA is a ``LeakyReLU(slope)`` (ReLU when 0); restored after.

    The slope can be changed while training (``set_leaky_slope``); the 4-channel fuser/defuser layers and the
    1-channel code die within a few hundred steps with plain ReLUs on sparse heatmaps.
    """
    slots = _hidden_relus(model)
    old = [seq[k] for seq, k in slots]
    for seq, k in slots:
        seq[k] = nn.LeakyReLU(slope) if slope > 0 else nn.ReLU(inplace=True)
    try:
        yield model
    finally:
        for (seq, k), mod in zip(slots, old):
            seq[k] = mod


def set_leaky_slope(model: VHA, slope: float) -> None:
    """Set the slope of the hidden LeakyReLUs installed by :func:`leaky_code`."""
    for seq, k in _hidden_relus(model):
        if isinstance(seq[k], nn.LeakyReLU):
            seq[k].negative_slope = slope


@contextlib.contextmanager
def leaky_output(model: VHA, slope: float):
    """Swap the decoder's final activation for ``LeakyReLU(slope)`` (``ReLU`` when 0) inside the block; restore it.

    No parameters change, so the state dict is the same; it keeps the gradient alive on voxels whose output would be
    clipped to zero (see :class:`~loco.training.config.VHAConfig` ``leaky_output``).
    """
    old = model.decoder[-1]
    model.decoder[-1] = nn.LeakyReLU(slope) if slope > 0 else nn.ReLU(inplace=True)
    try:
        yield model
    finally:
        model.decoder[-1] = old


def _render_crop(sampler: HeatmapSampler, rng, frames, sigma: float, device) -> torch.Tensor:
    """Render one crop: the joints of every frame in ``frames`` (a list of ``(centers, joints)``), each frame
    shifted by its own crop offset drawn from ``rng``, superimposed (max) in one ``(1, J, D, h, w)`` volume."""
    h, w = sampler.crop
    r = int(2.5 * sigma) + 1
    all_c, all_j = [], []
    for centers, joints in frames:
        top, left = sampler._offset(rng, centers)
        shifted = centers - torch.tensor([0.0, float(top), float(left)])
        keep = (shifted[:, 1] > -r) & (shifted[:, 1] < h + r) & (shifted[:, 2] > -r) & (shifted[:, 2] < w + r)
        all_c.append(shifted[keep])
        all_j.append(joints[keep])
    return ops.render_heatmaps(
        torch.cat(all_c).to(device),
        torch.cat(all_j).to(device),
        (sampler.num_joints, sampler.grid.depth_bins, h, w),
        sigma=sigma,
        batch_size=1,
        snap=sampler.snap,
    )
