"""Training configurations: one dataclass per model, saved inside every checkpoint (and as ``config.json`` in the run).

Fields shared by the three trainers live in :class:`TrainConfig`; :class:`VHAConfig`, :class:`PredictorConfig` and
:class:`RefinerConfig` add their own. Every field is checked when a config is made (``TypeError`` for a wrong type,
``ValueError`` for a value out of range, naming the field), so a bad option fails before any work.
``to_dict`` / ``from_dict`` round-trip through JSON-safe types, so a run is
described by its config alone and ``--resume`` restores it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar

from loco._checks import check_bool, check_choice, check_int, check_real, check_shape
from loco.data.synthetic import PRESETS

__all__ = ["TrainConfig", "VHAConfig", "PredictorConfig", "RefinerConfig", "CONFIGS", "config_from_dict"]


@dataclass
class TrainConfig:
    """What every trainer needs.

    Args:
        out: run folder (checkpoints ``last.pt``, ``log.jsonl``, ``config.json``, exported weights).
        steps: optimiser steps in all.
        batch_size: samples per step and per process (DDP multiplies it by the world size).
        lr: peak learning rate of Adam; ``warmup`` linear steps, then constant until ``decay_from`` (a fraction of
            ``steps``), then cosine to ``lr * min_lr_ratio``.
        weight_decay: AdamW decay (0 = Adam).
        seed: the run seed; data of step ``t`` on rank ``r`` is a function of ``(seed, t, r)`` only.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or ``"auto"`` (CUDA when available).
        amp: ``"bf16"`` for bfloat16 autocast, ``"none"`` for float32.
        threads: torch intra-op threads on CPU (0 = torch's default).
        log_every: steps between log lines; ``val_every`` steps between validations (0 = never);
        ckpt_every: steps between checkpoints (0 = only by time); ``ckpt_minutes`` minutes between checkpoints.
        grad_clip: max global gradient norm (0 = none).
        progress: show a tqdm bar.
        deterministic: deterministic kernels during :meth:`Trainer.fit`: oneDNN off on CPU (its convolution weight
            gradients depend on buffer alignment, so two runs can differ in the last bit), deterministic cuDNN and
            ``torch.use_deterministic_algorithms`` on GPU. Needed for a bit-for-bit ``--resume`` of convolutional
            networks; slower.
        ema: decay of an exponential moving average of the weights (0 = none; 0.999 averages over about the last
            1,000 steps). It starts at the run's initial weights, is updated after every optimiser step
            (``ema * average + (1 - ema) * weights``), is saved in checkpoints, and is what validation scores (the
            raw weights' scores are logged beside it as ``val_raw``) and what the run exports.
    """

    out: str = "runs/run"
    steps: int = 1000
    batch_size: int = 1
    lr: float = 1e-3
    warmup: int = 100
    decay_from: float = 0.7
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"
    amp: str = "none"
    threads: int = 0
    log_every: int = 50
    val_every: int = 0
    ckpt_every: int = 0
    ckpt_minutes: float = 5.0
    grad_clip: float = 0.0
    progress: bool = True
    deterministic: bool = False
    ema: float = 0.0

    kind = "base"

    # What __post_init__ checks (each class adds its own; numbers are stored as Python ints and floats):
    # ints with their minimum, finite reals with their closed range (open where the tuple says so), bools, choices.
    _ints: ClassVar[dict] = {
        "steps": 1, "batch_size": 1, "warmup": 0, "seed": 0, "threads": 0,
        "log_every": 0, "val_every": 0, "ckpt_every": 0,
    }  # fmt: skip
    _reals: ClassVar[dict] = {
        "lr": (0.0, math.inf, "open"), "decay_from": (0.0, 1.0), "min_lr_ratio": (0.0, 1.0),
        "weight_decay": (0.0, math.inf), "ckpt_minutes": (0.0, math.inf), "grad_clip": (0.0, math.inf),
        "ema": (0.0, 1.0),
    }  # fmt: skip
    _bools: ClassVar[tuple] = ("progress", "deterministic")
    _choices: ClassVar[dict] = {"amp": ("none", "bf16")}
    _sizes: ClassVar[tuple] = ()  # (H, W) pairs of ints >= 1

    def __post_init__(self) -> None:
        """Check every field, so a bad option fails when the run is configured (``--steps -5`` used to train
        nothing and export the untrained model), naming the field."""
        checks: dict[str, dict] = {"_ints": {}, "_reals": {}, "_choices": {}}
        bools: list[str] = []
        sizes: list[str] = []
        for klass in reversed(type(self).__mro__):
            for key in checks:
                checks[key].update(vars(klass).get(key, {}))
            bools += vars(klass).get("_bools", ())
            sizes += vars(klass).get("_sizes", ())
        for name in ("out", "device"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name} must be a str, got {type(getattr(self, name)).__name__}")
        for name, minimum in checks["_ints"].items():
            setattr(self, name, check_int(name, getattr(self, name), minimum))
        for name, (lo, hi, *open_) in checks["_reals"].items():
            value = check_real(name, getattr(self, name))
            inside = (lo < value < hi) if open_ else (lo <= value <= hi)
            if not (inside and math.isfinite(value)):
                where = f"({lo:g}, {hi:g})" if open_ else f"[{lo:g}, {hi:g}]".replace("inf]", "inf)")
                raise ValueError(f"{name} must be in {where}, got {value!r}")
            setattr(self, name, value)
        for name in bools:
            setattr(self, name, check_bool(name, getattr(self, name)))  # np.True_ -> True
        for name, valid in checks["_choices"].items():
            setattr(self, name, check_choice(name, getattr(self, name), valid))  # np.int64(2) -> 2
        for name in sizes:
            setattr(self, name, check_shape(name, getattr(self, name), 1))
        if self.ema >= 1.0:
            raise ValueError(f"ema must be in [0, 1) (1 would never leave the initial weights), got {self.ema!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["kind"] = self.kind
        return d

    @classmethod
    def from_dict(cls, d: dict):
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names - {"kind"}
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
        kw = {k: v for k, v in d.items() if k in names}
        for f in fields(cls):
            if f.name in kw and isinstance(kw[f.name], list):
                kw[f.name] = tuple(tuple(x) if isinstance(x, list) else x for x in kw[f.name])
        return cls(**kw)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


@dataclass
class VHAConfig(TrainConfig):
    """VHA training on heatmaps rendered on the fly from synthetic (or loaded) poses.

    Args:
        version: VHA version (paper Table 1).
        preset: synthetic world preset (``"jta"``) whose scenes give the poses.
        image_size: (H, W) pixels of the frames; the grid is ``VoxelGrid.for_image(H, W, preset)``.
        crop: (h, w) voxels of the random crops in H'/W' (the VHA is fully convolutional).
        person_crop: probability that a crop is centred on a random joint (else uniform over the grid).
        sigma: Gaussian width in voxels (final value); ``sigma_schedule`` optional ``((sigma, until_fraction), ...)``,
            e.g. ``((8, 0.1), (4, 0.25))`` then ``sigma`` to the end.
        snap: snap centres to voxels (the original ground truth, peaks exactly on voxels).
        val_frames: held-out full frames (seed ``val_seed``) for the validation F1 at 0/1/2 voxels.
        fg_weight: extra weight ``w`` of the loss on target voxels, ``(1 + w * H) * (y - H)^2``; 0 = plain MSE.
        mix: each training crop superimposes the crops of ``mix`` different frames (each centred on one of its own
            joints): ``mix`` times the people and depths per step at the same cost. The 2-D encoder convolutions
            treat the 316 depth bins as unrelated channels, so every depth needs its own examples; the evaluation
            uses single frames.
        leaky_output: during training the decoder's last ReLU is a LeakyReLU of this slope (0 = plain ReLU): on
            sparse targets the plain ReLU output dies (all zeros, no gradient) within a few hundred steps; the
            exported network keeps its ReLU (negative outputs are clipped at test time).
        leaky_code, leaky_code_until: every hidden ReLU (above all the 4-channel fuser/defuser layers and the
            single-channel code, which die first: a dead code is all zeros and nothing upstream learns) is a
            LeakyReLU whose slope falls linearly from ``leaky_code`` to 0 at ``leaky_code_until * steps``; from there
            on training sees the exact test-time network.
        init_scheme: ``"lsuv"`` (data-dependent, :func:`loco.training.vha.lsuv_init`) or ``"default"`` (PyTorch's,
            under which the code starts at exactly zero on sparse heatmaps).
        init: start from these weights: for the plain recipe a VHA (bundled name or folder); for ``windows``
            ``"identity"``, a TiedVHA checkpoint, a CoarseVHA file or run folder
            (:func:`~loco.training.windows.build_coarse`).
        recipe: ``"plain"`` (the whole VHA on crops, MSE) or ``"windows"`` (:mod:`loco.training.windows`: a
            depth-tied CoarseVHA on depth windows with losses on the peaks; ``crop`` is then the window's h, w and
            ``batch_size`` the windows per step).
        window_depth: code positions of a window (``S * window_depth`` bins; ``windows`` only, as the rest).
        margin, depth_margin: voxels and bins at a window's edges that the loss ignores (edges inside the volume only
            when ``exact_borders``).
        exact_borders: windows may overhang the frame by half a crop and the network runs on their part inside the
            frame, so the frame's borders (and the volume's first and last bins) are trained exactly as the whole-frame
            VHA sees them (zero padding at every layer); off, a window's outside is zero input only and the borders
            are never trained as such. Checkpoints written before this field existed resume with ``False``.
        peak_weight, peak_margin: weight of the target-peak loss and the margin a peak must clear its neighbours by.
        fp_weight: weight of the false-peak loss.
        small_fraction: fraction of frames at a quarter of ``image_size`` (the pipeline's grid).
        bypass_fuser: train the per-joint path alone (each joint map is its own code).
        fuser_init: copy the fuser/defuser of this CoarseVHA file.
        fuser_lr_scale: the fuser's and defuser's learning rate is ``lr`` times this (``windows`` only; 1 = one
            parameter group, as before the field existed).
        first_pad, kernel: :class:`~loco.training.coarse.CoarseVHA` kernel sizes.
        isolation_power, isolation_radius: a window placed on a joint (``person_crop``) picks that joint with
            probability proportional to ``n ** -isolation_power``, ``n`` counting the frame's joints (any type, itself
            included) within ``isolation_radius`` voxels of it (depth bins, rows, columns): 0 (the default, and every
            run before the field existed) picks uniformly. Near and isolated joints are the ones a v2 VHA places
            worst (``scripts/vha_cpu/localisation.py``), while uniform picks give most windows to crowds of far
            joints.
        grid_jitter: cut each window's frame by ``0 .. stride - 1`` rows at the bottom and columns at the right
            (``windows`` only, :meth:`~loco.training.windows.WindowSampler.trimmed`), so every frame size modulo the
            VHA stride is trained at those borders, not just the training grids' (135 and 34 rows). Off (the default,
            and every run before the field existed) draws nothing, so old runs resume bit for bit.
        end_windows: fraction of the windows placed at the volume's first or last code positions, anywhere in the
            frame (``windows`` only; 0, the default, draws nothing).
        empty_weight: weight of a penalty on the output above 0.02 for an all-zero volume of the whole depth and a
            small random grid, drawn each step (``windows`` only, :func:`~loco.training.windows.empty_loss`): a frame
            without people must decode to no peak. 0 (the default) adds nothing.
        ridge_weight: weight of a hinge that makes the output fall off from each target peak across its 3x3x3
            neighbourhood (``windows`` only, :func:`~loco.training.windows.window_losses`): each of the 12 voxels
            diagonal to the peak in a plane and the 8 in its corners must lie 0.02 below its higher 6-neighbour one step
            nearer the peak, so that no diagonal voxel is a 6-connected local maximum of its own. Such diagonal twins
            are half of a v2 VHA's unmatched peaks at 2 voxels (``scripts/vha_cpu/twins.py``). 0 (the default, and every
            run before the field existed) adds nothing.
        freeze_code: train the decoder side only (the defuser and the decoder kernels; ``windows`` only): the encoder
            and the fuser keep the weights of ``init``, so the code of every volume stays exactly the init's and a
            Code Predictor trained against that code stays valid (with ``leaky_code`` 0, as the exported VHA
            computes it). Off (the default) trains everything.
        untie: give every code position its own per-joint kernels (``windows`` only,
            :meth:`~loco.training.coarse.CoarseVHA.untie`): the init's tied kernels plus per-position offsets that
            start at zero, so training starts from the init's function and may then learn depth-dependent weights, as
            the paper's VHA has. Off (the default) keeps the kernels tied.
        untied_lr_scale: the per-position offsets' learning rate is ``lr`` times this (with ``untie``; 1 = no group
            of their own). Each offset sees only its position's windows, and Adam moves every parameter by about the
            learning rate whatever its share of the data, so at the shared kernels' rate the offsets add per-position
            noise (stage v2 U1).
        windows_per_frame: each synthetic frame serves this many consecutive steps (``windows`` only; slot ``b`` of
            step ``t`` shows frame ``(t // windows_per_frame) * B + b``): making a frame costs ~20 ms of
            single-threaded Python, which bounds a GPU's step at large batches.
    """

    version: int = 2
    preset: str = "jta"
    image_size: tuple = (1080, 1920)
    crop: tuple = (32, 32)
    person_crop: float = 0.9
    sigma: float = 2.0
    sigma_schedule: tuple = ()
    snap: bool = True
    val_frames: int = 4
    val_seed: int = 10_000
    fg_weight: float = 0.0
    mix: int = 1
    leaky_output: float = 0.01
    leaky_code: float = 0.1
    leaky_code_until: float = 0.5
    init_scheme: str = "lsuv"
    init: str = ""
    recipe: str = "plain"
    window_depth: int = 20
    margin: int = 6
    depth_margin: int = 12
    peak_weight: float = 1.0
    peak_margin: float = 0.05
    fp_weight: float = 1.0
    small_fraction: float = 0.25
    exact_borders: bool = True
    bypass_fuser: bool = False
    fuser_init: str = ""
    fuser_lr_scale: float = 1.0
    first_pad: int = 6
    kernel: int = 5
    windows_per_frame: int = 4
    isolation_power: float = 0.0
    isolation_radius: float = 4.5
    grid_jitter: bool = False
    end_windows: float = 0.0
    empty_weight: float = 0.0
    ridge_weight: float = 0.0
    freeze_code: bool = False
    untie: bool = False
    untied_lr_scale: float = 1.0

    kind = "vha"
    _ints: ClassVar[dict] = {
        "val_frames": 0, "val_seed": 0, "mix": 1, "window_depth": 1, "margin": 0, "depth_margin": 0,
        "first_pad": 0, "kernel": 1, "windows_per_frame": 1,
    }  # fmt: skip
    _reals: ClassVar[dict] = {
        "person_crop": (0.0, 1.0), "sigma": (0.0, math.inf, "open"), "fg_weight": (0.0, math.inf),
        "leaky_output": (0.0, 1.0), "leaky_code": (0.0, 1.0), "leaky_code_until": (0.0, 1.0),
        "peak_weight": (0.0, math.inf), "fp_weight": (0.0, math.inf), "small_fraction": (0.0, 1.0),
        "fuser_lr_scale": (0.0, math.inf, "open"), "isolation_power": (0.0, math.inf),
        "isolation_radius": (0.0, math.inf, "open"), "end_windows": (0.0, 1.0), "empty_weight": (0.0, math.inf),
        "ridge_weight": (0.0, math.inf), "untied_lr_scale": (0.0, math.inf, "open"),
    }  # fmt: skip
    _bools: ClassVar[tuple] = ("snap", "exact_borders", "bypass_fuser", "grid_jitter", "freeze_code", "untie")
    _choices: ClassVar[dict] = {
        "version": (1, 2, 3), "recipe": ("plain", "windows"), "init_scheme": ("lsuv", "default"),
        "preset": tuple(PRESETS),
    }  # fmt: skip
    _sizes: ClassVar[tuple] = ("image_size", "crop")

    @classmethod
    def from_dict(cls, d: dict):
        # runs saved before ``exact_borders`` existed trained without it: resume them as they were
        return super().from_dict({"exact_borders": False} | d)


@dataclass
class PredictorConfig(TrainConfig):
    """Code Predictor training against codes ``e(H)`` of a frozen VHA, computed on the fly.

    Args:
        vha: the frozen VHA (bundled name or folder).
        backbone: ``"light"`` or ``"inception_v3"``.
        image_size: (H, W) of the training images (a CPU-friendly size by default).
        length: number of distinct synthetic frames (``index = (seed, i)``); ``val_frames`` held-out ones with
            ``val_seed``.
        augment: colour jitter, blur, noise and horizontal flips (flipping swaps left/right joints).
        workers: DataLoader worker processes rendering the synthetic frames.
        code_weight: extra weight on code cells above ``code_threshold``.
    """

    vha: str = "vha2"
    backbone: str = "light"
    preset: str = "jta"
    image_size: tuple = (270, 480)
    length: int = 100_000
    sigma: float = 2.0
    snap: bool = True
    augment: bool = True
    workers: int = 1
    val_frames: int = 8
    val_seed: int = 10_000
    code_weight: float = 0.0
    init: str = ""

    kind = "predictor"
    _ints: ClassVar[dict] = {"length": 1, "workers": 0, "val_frames": 0, "val_seed": 0}
    _reals: ClassVar[dict] = {"sigma": (0.0, math.inf, "open"), "code_weight": (0.0, math.inf)}
    _bools: ClassVar[tuple] = ("snap", "augment")
    _choices: ClassVar[dict] = {"backbone": ("light", "inception_v3"), "preset": tuple(PRESETS)}
    _sizes: ClassVar[tuple] = ("image_size",)


@dataclass
class RefinerConfig(TrainConfig):
    """Pose Refiner training, the paper's recipe: root-relative poses with random missing joints and noise, MSE.

    Args:
        preset: synthetic preset the poses come from (plus any ``real`` poses, an ``.npy`` of (N, 14, 3) metres).
        drop_prob: probability of removing each joint of the input; ``noise`` std of the Gaussian noise in metres
            added to the kept joints (scaled up with the joint's distance by ``noise_per_metre``).
        pool_poses: synthetic training poses sampled once at the start; ``val_poses`` held-out ones (``val_seed``).
    """

    preset: str = "jta"
    real: str = ""
    drop_prob: float = 0.25
    noise: float = 0.03
    noise_per_metre: float = 0.002
    pool_poses: int = 30_000
    val_poses: int = 4096
    val_seed: int = 10_000

    kind = "refiner"
    _ints: ClassVar[dict] = {"pool_poses": 1, "val_poses": 1, "val_seed": 0}
    _reals: ClassVar[dict] = {"drop_prob": (0.0, 1.0), "noise": (0.0, math.inf), "noise_per_metre": (0.0, math.inf)}
    _choices: ClassVar[dict] = {"preset": tuple(PRESETS)}


CONFIGS = {c.kind: c for c in (VHAConfig, PredictorConfig, RefinerConfig)}


def config_from_dict(d: dict) -> TrainConfig:
    """Rebuild the config of a checkpoint (``d["kind"]`` picks the class)."""
    kind = d.get("kind")
    if kind not in CONFIGS:
        raise ValueError(f"unknown config kind {kind!r}; valid: {sorted(CONFIGS)}")
    return CONFIGS[kind].from_dict(d)


del field
