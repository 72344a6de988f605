"""``loco train predictor``: the Code Predictor against codes ``e(H)`` of a frozen VHA, computed on the fly.

No code files: each step renders ``batch_size`` synthetic frames (image and joints,
:class:`loco.data.synthetic.SyntheticScenes`, in DataLoader workers), renders their volumetric heatmaps on the
training device (:func:`loco.ops.render_heatmaps`), encodes them with the frozen VHA and regresses the code from the
(augmented) image with an MSE, as the paper does. Augmentation: horizontal flips (image mirrored, 3-D poses mirrored
``X -> -X`` with left/right joints swapped and ``cx -> W - 1 - cx``, so the target stays exact), brightness,
contrast, saturation, Gaussian blur and sensor noise.

Validation: the predicted code is decoded by the VHA, peaks are read (threshold 0.1, 6-connected, gaussian
refinement) and lifted to metres, and joints are matched per type to the ground truth within 0.4/0.8/1.2 m
(:class:`loco.metrics.DetectionMeter`, the JTA protocol without the association step); the full pipeline with the
association and the refiner is :func:`loco.evaluate.evaluate_pipeline` on ``loco.LoCO``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from loco import ops
from loco.data.synthetic import SyntheticScenes
from loco.geometry import Camera, VoxelGrid
from loco.metrics import DetectionMeter
from loco.models import VHA, CodePredictor
from loco.models.code_predictor import IMAGENET_MEAN, IMAGENET_STD
from loco.skeleton import FLIP_PAIRS, NUM_JOINTS
from loco.training.config import PredictorConfig
from loco.training.sampler import frame_joints
from loco.training.trainer import Trainer, seed_everything

__all__ = ["train_predictor", "FrameDataset", "flip_sample", "augment_image", "normalize", "evaluate_codes"]

_FLIP = list(range(NUM_JOINTS))
for _a, _b in FLIP_PAIRS:
    _FLIP[_a], _FLIP[_b] = _b, _a


def normalize(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) uint8 RGB -> the Code Predictor's input (ImageNet mean/std)."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std


def flip_sample(
    image: torch.Tensor, poses3d: torch.Tensor, camera: Camera
) -> tuple[torch.Tensor, torch.Tensor, Camera]:
    """Mirror a frame left-right, exactly: image columns reversed, ``X -> -X``, left/right joints swapped,
    ``cx -> W - 1 - cx`` (pixel ``i`` goes to ``W - 1 - i``)."""
    w = image.shape[-1]
    poses = poses3d[:, _FLIP].clone()
    poses[..., 0] = -poses[..., 0]
    return image.flip(-1), poses, Camera(camera.fx, camera.fy, w - 1 - camera.cx, camera.cy)


def augment_image(image: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Photometric augmentation of a (3, H, W) uint8 image -> float in [0, 255]."""
    x = image.float()
    gray = x.mean(0, keepdim=True)
    x = gray + (x - gray) * rng.uniform(0.6, 1.4)  # saturation
    x = x.mean() + (x - x.mean()) * rng.uniform(0.7, 1.3)  # contrast
    x = x * rng.uniform(0.7, 1.3) + rng.uniform(-20, 20)  # brightness
    x = x * torch.from_numpy(rng.uniform(0.9, 1.1, size=(3, 1, 1)).astype(np.float32))  # white balance
    if rng.random() < 0.3:
        s = rng.uniform(0.5, 1.2)
        k = torch.exp(-(torch.arange(-2, 3, dtype=torch.float32) ** 2) / (2 * s * s))
        k = k / k.sum()
        x = F.conv2d(x[:, None], k.view(1, 1, 1, 5), padding=(0, 2))
        x = F.conv2d(x, k.view(1, 1, 5, 1), padding=(2, 0))[:, 0]
    x = x + torch.from_numpy(rng.standard_normal(x.shape).astype(np.float32)) * rng.uniform(0, 6)
    return x.clamp(0, 255)


class FrameDataset(torch.utils.data.Dataset):
    """Item ``(step, b)``: synthetic frame ``order[step * B + b]`` (augmented with ``default_rng([seed, 5, step,
    b])``) as ``(image (3, H, W) float [0, 255], centers (K, 3), joint (K,))``."""

    def __init__(self, config: PredictorConfig, seed: int | None = None, augment: bool | None = None) -> None:
        self.config = config
        self.scenes = SyntheticScenes(
            config.preset, config.image_size, seed=config.seed if seed is None else seed, length=config.length
        )
        self.grid = VoxelGrid.for_image(*config.image_size, preset=config.preset)
        self.augment = config.augment if augment is None else augment
        self.order = np.random.default_rng([self.scenes.seed, 6]).permutation(config.length)

    def __len__(self) -> int:
        return len(self.order)

    def item(self, step: int, b: int):
        i = int(self.order[(step * self.config.batch_size + b) % len(self.order)])
        s = self.scenes[i]
        image, poses, camera = s["image"], s["poses3d"], s["camera"]
        if self.augment:
            rng = np.random.default_rng([self.config.seed, 5, step, b])
            if rng.random() < 0.5:
                image, poses, camera = flip_sample(image, poses, camera)
            image = augment_image(image, rng)
        else:
            image = image.float()
        centers, joints = frame_joints(poses, camera, self.grid)
        return image, centers, joints, poses, camera

    def __getitem__(self, key):
        return self.item(*key)


class _StepSampler(torch.utils.data.Sampler):
    def __init__(self, start: int, end: int, batch_size: int, rank: int = 0, world: int = 1) -> None:
        self.start, self.end, self.batch_size, self.rank, self.world = start, end, batch_size, rank, world

    def __iter__(self):
        for step in range(self.start, self.end):
            for b in range(self.batch_size):
                # Each rank takes its own slice of a global batch of B * world frames.
                yield step, self.rank * self.batch_size + b

    def __len__(self) -> int:
        return (self.end - self.start) * self.batch_size


def _collate(items):
    return items


def render_codes(vha: VHA, items, grid: VoxelGrid, sigma: float, snap: bool, device) -> torch.Tensor:
    """The target codes ``e(H)`` of a batch: (B, 1, C, h, w) on ``device`` (no grad)."""
    centers = torch.cat([it[1] for it in items]).to(device)
    joints = torch.cat([it[2] for it in items]).to(device)
    bidx = torch.cat([torch.full((len(it[1]),), b, dtype=torch.int64) for b, it in enumerate(items)]).to(device)
    vol = ops.render_heatmaps(centers, joints, grid, sigma=sigma, batch_index=bidx, batch_size=len(items), snap=snap)
    with torch.no_grad():
        return vha.encode(vol)


@torch.no_grad()
def evaluate_codes(predictor: CodePredictor, vha: VHA, dataset: FrameDataset, frames: int, device="cpu") -> dict:
    """JTA joint detection (no association) of decode(predictor(image)) on ``frames`` held-out frames."""
    meter = DetectionMeter()
    grid = dataset.grid
    mse = 0.0
    for i in range(frames):
        image, centers, joints, poses, camera = dataset.item(i, 0)
        code = predictor(normalize(image[None].to(device)))
        target = render_codes(vha, [(image, centers, joints)], grid, dataset.config.sigma, dataset.config.snap, device)
        mse += float(F.mse_loss(code, target))
        vol = vha.decode(code.clamp_min(0), size=grid)
        peaks = ops.find_peaks(vol.float(), threshold=0.1, refine="gaussian")
        xyz = ops.backproject(peaks.position.double().cpu(), grid, camera, backend="torch")
        pred = np.concatenate([peaks.joint.cpu().numpy()[:, None], xyz.numpy()], axis=1)
        gt_xyz = ops.backproject(centers.double(), grid, camera, backend="torch").numpy()
        gt = np.concatenate([joints.numpy()[:, None], gt_xyz], axis=1)
        meter.update(pred, gt)
    s = meter.summary()
    return {
        k: round(v, 2)
        for k, v in s.items()
        if k.startswith("f1") or k.startswith("recall") or k.startswith("precision")
    } | {"code_mse": mse / max(1, frames), "frames": frames}


def train_predictor(config: PredictorConfig, resume: str | None = None, stop_at: int | None = None):
    """Train a Code Predictor against a frozen VHA; returns the :class:`Trainer`."""
    vha = VHA.from_pretrained(config.vha).eval()
    for p in vha.parameters():
        p.requires_grad_(False)
    seed_everything(config.seed)  # the initial weights are a function of the seed
    predictor = CodePredictor(backbone=config.backbone, vha_version=vha.version, depth_bins=vha.depth_bins)
    if config.init:
        predictor.load_state_dict(CodePredictor.from_pretrained(config.init).state_dict())
    dataset = FrameDataset(config)
    val_set = FrameDataset(config, seed=config.val_seed, augment=False)
    state = {"it": None}

    def batch_fn(step, rank, world, device):
        if state["it"] is None:
            vha.to(device)
            end = config.steps if stop_at is None else min(stop_at, config.steps)
            loader = torch.utils.data.DataLoader(
                dataset,
                sampler=_StepSampler(step, end, config.batch_size, rank, world),
                batch_size=config.batch_size,
                num_workers=config.workers,
                collate_fn=_collate,
                persistent_workers=False,
                prefetch_factor=2 if config.workers else None,
                # the synthetic renderer runs numba-parallel code: a forked worker of a process whose numba thread
                # pool is already running hangs, so workers are spawned
                multiprocessing_context="spawn" if config.workers else None,
            )
            state["it"] = iter(loader)
        items = next(state["it"])
        images = torch.stack([it[0] for it in items]).to(device)
        codes = render_codes(vha, items, dataset.grid, config.sigma, config.snap, device)
        return normalize_float(images), codes

    def loss_fn(model, batch, step):
        images, codes = batch
        pred = model(images).float()
        err = (pred - codes) ** 2
        if config.code_weight > 0:
            err = err * (1 + config.code_weight * (codes > 0.05).float())
        return err.mean() * 1000.0, {}

    def validate(model, step):
        dev = next(model.parameters()).device
        return evaluate_codes(model, vha.to(dev), val_set, config.val_frames, dev)

    trainer = Trainer(config, predictor, batch_fn, loss_fn, validate if config.val_frames else None)
    if resume:
        trainer.resume(resume)
    trainer.fit(stop_at=stop_at)
    return trainer


def normalize_float(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) float RGB in [0, 255] -> the Code Predictor's input."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1) * 255.0
    return (images - mean) / std
