"""Small deterministic fixtures shared by tests and benchmarks (no images: see :mod:`loco.data` for those)."""

from __future__ import annotations

import numpy as np
import torch

from loco.geometry import Camera, VoxelGrid, project

#: A standing adult (1.75 m), metres, camera frame (y down), feet at y = 0, JTA joint order: (14, 3).
STANDING_TEMPLATE = np.array(
    [
        [0.00, -1.75, 0.00],  # head_top
        [0.00, -1.50, 0.00],  # neck
        [-0.19, -1.45, 0.00],  # right_shoulder
        [-0.24, -1.17, 0.02],  # right_elbow
        [-0.26, -0.92, 0.05],  # right_wrist
        [0.19, -1.45, 0.00],  # left_shoulder
        [0.24, -1.17, 0.02],  # left_elbow
        [0.26, -0.92, 0.05],  # left_wrist
        [-0.10, -0.95, 0.00],  # right_hip
        [-0.11, -0.50, 0.02],  # right_knee
        [-0.11, -0.05, 0.00],  # right_ankle
        [0.10, -0.95, 0.00],  # left_hip
        [0.11, -0.50, 0.02],  # left_knee
        [0.11, -0.05, 0.00],  # left_ankle
    ],
    dtype=np.float64,
)


def random_crowd(
    n_people: int,
    seed: int = 0,
    camera: Camera | None = None,
    grid: VoxelGrid | None = None,
    camera_height: float = 6.0,
    max_distance: float = 60.0,
) -> torch.Tensor:
    """``n_people`` standing people on a ground plane ``camera_height`` metres below a level camera, all in view.

    People are scaled (0.8-1.15), turned and jittered per joint (a few cm), and at least 0.8 m apart, so each joint
    type's Gaussians stay separable at the default sigma.

    Returns:
        (P, 14, 3) float64 joint positions in metres, camera frame.
    """
    camera = camera or Camera.jta()
    grid = grid or VoxelGrid.jta()
    rng = np.random.default_rng(seed)
    height_px, width_px = grid.image_size
    people: list[np.ndarray] = []
    feet: list[np.ndarray] = []
    tries = 0
    while len(people) < n_people:
        tries += 1
        if tries > 100_000:
            raise ValueError(f"could not place {n_people} people apart from each other in view")
        z = rng.uniform(4.0, max_distance)
        x_px = rng.uniform(0.05, 0.95) * width_px
        x = (x_px - camera.cx) * z / camera.fx
        foot = np.array([x, camera_height, z])
        if any(np.linalg.norm(foot[[0, 2]] - f[[0, 2]]) < 0.8 for f in feet):
            continue
        yaw = rng.uniform(-np.pi, np.pi)
        rot = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
        pose = (STANDING_TEMPLATE * rng.uniform(0.8, 1.15)) @ rot.T + rng.normal(0, 0.03, size=(14, 3)) + foot
        px = project(torch.from_numpy(pose), grid, camera).numpy()
        dims = np.array(grid.shape) - 1
        if (px < 0).any() or (px > dims).any():
            continue
        people.append(pose)
        feet.append(foot)
    return torch.from_numpy(np.stack(people)) if people else torch.zeros(0, 14, 3, dtype=torch.float64)


def crowd_centers(poses3d: torch.Tensor, grid: VoxelGrid, camera: Camera) -> tuple[torch.Tensor, torch.Tensor]:
    """Voxel centres (P*14, 3) float32 and joint types (P*14,) int64 of a crowd, for ``render_heatmaps``."""
    centers = project(poses3d.reshape(-1, 3), grid, camera).to(torch.float32)
    joints = torch.arange(poses3d.shape[1]).repeat(poses3d.shape[0])
    return centers, joints
