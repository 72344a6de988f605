"""Heatmaps rendered on the fly for the VHA: person-centred random crops of a synthetic frame's volumes.

The VHA is fully convolutional, so it trains on crops of ``(J, D, h, w)`` of the full ``(J, D, H', W')`` volume: the
joints' voxel centres are shifted by the crop's offset and :func:`loco.ops.render_heatmaps` renders straight into the
crop (sparse: the work grows with the number of joints, not with the frame). Most crops are centred on a random
joint (plus jitter), so few steps are spent on empty space; the rest are uniform over the grid so the network also
sees empty regions and crop borders in all positions.

Ground truth as in :mod:`loco.evaluate`: every joint that rounds to a voxel inside the full grid, occluded or not.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from loco import ops
from loco._checks import check_choice
from loco.data.synthetic import PRESETS, sample_scene
from loco.evaluate import ground_truth_mask
from loco.geometry import Camera, VoxelGrid
from loco.skeleton import NUM_JOINTS

__all__ = ["HeatmapSampler", "sigma_at", "frame_joints"]


def sigma_at(sigma: float, schedule: Sequence, step: int, steps: int) -> float:
    """The Gaussian width at ``step``: ``schedule`` is ``((sigma_k, until_fraction_k), ...)`` then ``sigma``.

    Example: ``sigma_at(2, ((8, 0.1), (4, 0.25)), t, T)`` is 8 for the first 10 % of the steps, 4 until 25 %, then 2.
    """
    for s, until in schedule:
        if step < until * steps:
            return float(s)
    return float(sigma)


def frame_joints(
    poses3d: np.ndarray | torch.Tensor, camera: Camera, grid: VoxelGrid
) -> tuple[torch.Tensor, torch.Tensor]:
    """The rendered ground truth of one frame: ``(centers (K, 3) float32 voxels (d, v, u), joint (K,) int64)``."""
    poses = torch.as_tensor(np.asarray(poses3d, dtype=np.float64)).reshape(-1, NUM_JOINTS, 3)
    mask = ground_truth_mask(poses, grid, camera)
    joints = torch.arange(NUM_JOINTS).expand(poses.shape[0], -1)[mask]
    centers = ops.project(poses[mask], grid, camera).to(torch.float32)
    return centers, joints


class HeatmapSampler:
    """Crops of volumetric heatmaps of random synthetic frames.

    Args:
        preset: synthetic world preset (``"jta"``, ``"panoptic"``, ``"h36m"``).
        image_size: (H, W) pixels; the grid is ``VoxelGrid.for_image(H, W, preset)``.
        crop: (h, w) voxels of each crop (clamped to the grid).
        person_crop: probability that a crop is centred on a random joint.
        snap: snap the centres to voxels (the original ground truth).
        num_joints: J.
    """

    def __init__(
        self,
        preset: str = "jta",
        image_size: tuple[int, int] = (1080, 1920),
        crop: tuple[int, int] = (32, 32),
        person_crop: float = 0.9,
        snap: bool = True,
        num_joints: int = NUM_JOINTS,
    ) -> None:
        preset = check_choice("preset", preset, tuple(sorted(PRESETS)))
        if not 0.0 <= person_crop <= 1.0:
            raise ValueError(f"person_crop must be in [0, 1], got {person_crop}")
        self.preset, self.image_size, self.snap, self.person_crop = preset, tuple(image_size), snap, person_crop
        self.grid = VoxelGrid.for_image(*self.image_size, preset=preset)
        self.crop = (min(int(crop[0]), self.grid.height), min(int(crop[1]), self.grid.width))
        self.num_joints = num_joints
        native = PRESETS[preset]["size"]
        self._scale = (self.image_size[1] / native[1], self.image_size[0] / native[0])

    def frame(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """One random frame's joints as :func:`frame_joints`."""
        scene = sample_scene(self.preset, rng)
        camera = scene.camera.scaled(*self._scale)
        return frame_joints(scene.poses3d(), camera, self.grid)

    def _offset(self, rng: np.random.Generator, centers: torch.Tensor) -> tuple[int, int]:
        h, w = self.crop
        max_top, max_left = self.grid.height - h, self.grid.width - w
        if len(centers) and rng.random() < self.person_crop:
            c = centers[int(rng.integers(len(centers)))]
            cv = float(c[1]) + rng.uniform(-0.4, 0.4) * h
            cu = float(c[2]) + rng.uniform(-0.4, 0.4) * w
            top, left = round(cv - h / 2), round(cu - w / 2)
        else:
            top, left = int(rng.integers(max_top + 1)), int(rng.integers(max_left + 1))
        return int(np.clip(top, 0, max_top)), int(np.clip(left, 0, max_left))

    def sample(
        self, rng: np.random.Generator, batch_size: int = 1, sigma: float = 2.0, device="cpu", out=None
    ) -> torch.Tensor:
        """A batch of crops.

        Returns:
            (B, J, D, h, w) float32 heatmaps on ``device``.
        """
        all_c, all_j, all_b = [], [], []
        for b in range(batch_size):
            centers, joints = self.frame(rng)
            top, left = self._offset(rng, centers)
            shifted = centers - torch.tensor([0.0, float(top), float(left)])
            radius = int(2.5 * sigma) + 1
            keep = (
                (shifted[:, 1] > -radius)
                & (shifted[:, 1] < self.crop[0] + radius)
                & (shifted[:, 2] > -radius)
                & (shifted[:, 2] < self.crop[1] + radius)
            )
            all_c.append(shifted[keep])
            all_j.append(joints[keep])
            all_b.append(torch.full((int(keep.sum()),), b, dtype=torch.int64))
        centers = torch.cat(all_c).to(device)
        shape = (self.num_joints, self.grid.depth_bins, *self.crop)
        return ops.render_heatmaps(
            centers,
            torch.cat(all_j).to(device),
            shape,
            sigma=sigma,
            batch_index=torch.cat(all_b).to(device),
            batch_size=batch_size,
            snap=self.snap,
            out=out,
        )
