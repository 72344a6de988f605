"""``loco train refiner``: the Pose Refiner, the paper's recipe (Sec. 3.4).

Training pairs come from ground-truth poses (synthetic scenes of a preset, plus optional real poses from an
``.npy`` of (N, 14, 3) metres): the input is the pose with random joints removed (set to the hole value) and Gaussian
noise on the kept ones, the target the clean pose, both root-relative to the *input's* head_top and normalised
(:func:`loco.models.to_root_relative`), and the loss is the MSE over the 13 joints. The noise grows with the
distance from the camera like the pipeline's own errors do (voxels are larger far away): its standard deviation is
``noise + noise_per_metre * distance`` metres. The fraction of removed joints is drawn per pose in
``[0, 2 * drop_prob]``, so the network sees complete poses as well as poses with half their joints missing.
"""

from __future__ import annotations

import numpy as np
import torch

from loco.data.synthetic import sample_scene
from loco.models import PoseRefiner, to_root_relative
from loco.models.refiner import HOLE
from loco.skeleton import NUM_JOINTS
from loco.training.config import RefinerConfig
from loco.training.trainer import Trainer, seed_everything, step_rng

__all__ = ["train_refiner", "pose_pool", "corrupt", "evaluate_refiner"]


def pose_pool(preset: str, seed: int, min_poses: int, max_distance: float = 100.0) -> np.ndarray:
    """(N, 14, 3) float32 camera-frame poses (metres) of synthetic scenes ``default_rng([seed, 3, i])``, all joints
    finite and in front of the camera within ``max_distance``, at least ``min_poses`` of them."""
    chunks, n, i = [], 0, 0
    while n < min_poses:
        poses = sample_scene(preset, np.random.default_rng([seed, 3, i])).poses3d()
        i += 1
        if len(poses) == 0:
            continue
        dist = np.linalg.norm(poses, axis=-1)
        ok = np.isfinite(poses).all((1, 2)) & (poses[..., 2] > 0.1).all(1) & (dist < max_distance).all(1)
        chunks.append(poses[ok].astype(np.float32))
        n += int(ok.sum())
    return np.concatenate(chunks)


def corrupt(
    poses: torch.Tensor, rng: np.random.Generator, drop_prob: float, noise: float, noise_per_metre: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's training pair: ``(input (B, 13, 3), target (B, 13, 3))`` normalised root-relative.

    Args:
        poses: (B, 14, 3) clean poses, metres.
        rng: draws the removed joints and the noise.
    """
    b = poses.shape[0]
    dist = poses.norm(dim=-1, keepdim=True)
    sd = noise + noise_per_metre * dist
    noisy = poses + torch.from_numpy(rng.standard_normal(poses.shape).astype(np.float32)).to(poses.device) * sd
    rate = rng.uniform(0, 2 * drop_prob, size=(b, 1))
    missing = torch.from_numpy(rng.random((b, NUM_JOINTS)) < rate).to(poses.device)
    missing[:, 0] = False
    x = to_root_relative(noisy, missing)
    # The target is the clean pose seen from the noisy head_top: the refiner cannot move the root.
    clean = torch.cat([noisy[:, :1], poses[:, 1:] - poses[:, :1] + noisy[:, :1]], dim=1)
    y = to_root_relative(clean)
    return x, y


@torch.no_grad()
def evaluate_refiner(model: PoseRefiner, poses: torch.Tensor, rng: np.random.Generator, config: RefinerConfig) -> dict:
    """Mean joint error (mm) on held-out corrupted poses: kept joints before/after, removed joints after."""
    from loco.models import from_root_relative

    x, y = corrupt(poses, rng, config.drop_prob, config.noise, config.noise_per_metre)
    root = poses[:, 0]  # errors are root-relative, so any root gives the same distances
    out = from_root_relative(model(x), root)
    inp = from_root_relative(x, root)
    tgt = from_root_relative(y, root)
    hole = (x == HOLE).all(-1)
    err_out = (out[:, 1:] - tgt[:, 1:]).norm(dim=-1)
    err_in = (inp[:, 1:] - tgt[:, 1:]).norm(dim=-1)
    return {
        "kept_in_mm": round(1000 * float(err_in[~hole].mean()), 1),
        "kept_out_mm": round(1000 * float(err_out[~hole].mean()), 1),
        "holes_out_mm": round(1000 * float(err_out[hole].mean()), 1) if hole.any() else float("nan"),
        "holes_fraction": round(float(hole.float().mean()), 3),
    }


def train_refiner(config: RefinerConfig, resume: str | None = None, stop_at: int | None = None):
    """Train a Pose Refiner; returns the :class:`Trainer`."""
    pool = torch.from_numpy(pose_pool(config.preset, config.seed, config.pool_poses))
    if config.real:
        real = torch.from_numpy(np.load(config.real).astype(np.float32))
        if real.ndim != 3 or real.shape[1:] != (NUM_JOINTS, 3):
            raise ValueError(f"real poses must have shape (N, {NUM_JOINTS}, 3), got {tuple(real.shape)}")
        pool = torch.cat([pool, real[torch.isfinite(real).all(-1).all(-1)]])
    val = torch.from_numpy(pose_pool(config.preset, config.val_seed, config.val_poses))[: config.val_poses]

    def batch_fn(step, rank, world, device):
        rng = step_rng(config.seed, step, rank)
        idx = torch.from_numpy(rng.integers(len(pool), size=config.batch_size))
        x, y = corrupt(pool[idx], rng, config.drop_prob, config.noise, config.noise_per_metre)
        return x.to(device), y.to(device)

    def loss_fn(model, batch, step):
        x, y = batch
        return torch.nn.functional.mse_loss(model(x).float(), y), {}

    def validate(model, step):
        dev = next(model.parameters()).device
        return evaluate_refiner(model, val.to(dev), np.random.default_rng([config.val_seed, 4]), config)

    seed_everything(config.seed)  # the initial weights are a function of the seed
    trainer = Trainer(config, PoseRefiner(), batch_fn, loss_fn, validate)
    if resume:
        trainer.resume(resume)
    trainer.fit(stop_at=stop_at)
    return trainer
