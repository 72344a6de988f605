"""The 14-joint skeleton of JTA as LoCO uses it: names, limbs, root and per-joint lengths."""

from __future__ import annotations

JOINT_NAMES: tuple[str, ...] = (
    "head_top",
    "neck",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
)
NUM_JOINTS: int = len(JOINT_NAMES)

LIMBS: tuple[tuple[int, int], ...] = (
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 4),
    (1, 5),
    (5, 6),
    (6, 7),
    (1, 8),
    (8, 9),
    (9, 10),
    (1, 11),
    (11, 12),
    (12, 13),
    (8, 11),
)

#: The Pose Refiner's root joint (head_top).
ROOT: int = 0

#: Per-joint normalisation lengths in metres for joints 1..13 (distance bound from head_top), original code.
MAX_LS: tuple[float, ...] = (0.27, 0.41, 0.67, 0.93, 0.41, 0.67, 0.92, 0.88, 1.28, 1.69, 0.88, 1.29, 1.70)

#: Association limits in metres: how far from the head_top each joint type may be (paper / original code).
THS: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0, 1.0, 1.5, 2.0, 2.0, 2.5, 3.0, 2.0, 2.5, 3.0)

#: Left/right joint pairs, for flipping augmentation.
FLIP_PAIRS: tuple[tuple[int, int], ...] = ((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13))
