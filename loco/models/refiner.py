"""The Pose Refiner (paper Sec. 3.4): an MLP that fills in missing joints and corrects the others.

Compatible with the authors' trained weights (``pose_refiner.pth``: keys ``fc1.0``, ``fc2.0``, ``fc3.0``). The pose
is represented root-relative to head_top and normalised per joint as in the original code:
``0.5 + (joint - head_top) / (2 * MAX_LS[joint])`` for joints 1..13, with missing joints ("holes") set to -1.
"""

from __future__ import annotations

import torch
from torch import nn

from loco._checks import check_int, check_real
from loco.models._hub import PretrainedMixin
from loco.skeleton import MAX_LS, NUM_JOINTS, ROOT

__all__ = ["PoseRefiner", "to_root_relative", "from_root_relative"]

HOLE = -1.0


def _max_ls(like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(MAX_LS, dtype=like.dtype, device=like.device).unsqueeze(-1)  # (13, 1)


def _check_poses(name: str, poses) -> torch.Tensor:
    if not isinstance(poses, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(poses).__name__}")
    if poses.ndim < 2 or tuple(poses.shape[-2:]) != (NUM_JOINTS, 3):
        raise ValueError(f"{name} must have shape (..., {NUM_JOINTS}, 3), got shape {tuple(poses.shape)}")
    if not poses.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {poses.dtype}")
    return poses


def to_root_relative(poses: torch.Tensor, missing: torch.Tensor | None = None) -> torch.Tensor:
    """Normalised root-relative representation (the Pose Refiner's input).

    Args:
        poses: (..., 14, 3) joints in metres, camera frame; non-finite rows are missing joints.
        missing: optional (..., 14) bool, extra joints to treat as missing (holes).

    Returns:
        (..., 13, 3) ``0.5 + (poses[..., 1:, :] - poses[..., :1, :]) / (2 * MAX_LS)``, -1 for missing joints (all
        13 are -1 when the root, head_top, is missing).
    """
    _check_poses("poses", poses)
    if ROOT != 0:  # the layout below assumes head_top first, as every original file does
        raise RuntimeError("to_root_relative assumes the root is joint 0")
    rr = 0.5 + (poses[..., 1:, :] - poses[..., :1, :]) / (2.0 * _max_ls(poses))
    hole = ~torch.isfinite(poses).all(-1)  # (..., 14)
    if missing is not None:
        if not isinstance(missing, torch.Tensor) or missing.dtype != torch.bool:
            raise TypeError(f"missing must be a bool tensor, got {getattr(missing, 'dtype', type(missing).__name__)}")
        if tuple(missing.shape) != tuple(poses.shape[:-1]):
            raise ValueError(f"missing must have shape {tuple(poses.shape[:-1])}, got {tuple(missing.shape)}")
        hole = hole | missing.to(hole.device)
    hole = hole[..., 1:] | hole[..., :1]
    return torch.where(hole.unsqueeze(-1), torch.full_like(rr, HOLE), rr)


def from_root_relative(rr_poses: torch.Tensor, root: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_root_relative` (no hole handling: every value is denormalised).

    Args:
        rr_poses: (..., 13, 3) normalised root-relative joints.
        root: (..., 3) head_top in metres.

    Returns:
        (..., 14, 3) joints in metres: ``root`` then ``root + (rr - 0.5) * 2 * MAX_LS``.
    """
    if not isinstance(rr_poses, torch.Tensor) or not isinstance(root, torch.Tensor):
        raise TypeError("rr_poses and root must be torch.Tensors")
    if rr_poses.ndim < 2 or tuple(rr_poses.shape[-2:]) != (NUM_JOINTS - 1, 3):
        raise ValueError(f"rr_poses must have shape (..., {NUM_JOINTS - 1}, 3), got shape {tuple(rr_poses.shape)}")
    if tuple(root.shape) != tuple(rr_poses.shape[:-2]) + (3,):
        raise ValueError(f"root must have shape {tuple(rr_poses.shape[:-2]) + (3,)}, got {tuple(root.shape)}")
    joints = root.unsqueeze(-2) + (rr_poses - 0.5) * 2.0 * _max_ls(rr_poses)
    return torch.cat([root.unsqueeze(-2).to(joints.dtype), joints], dim=-2)


class PoseRefiner(PretrainedMixin, nn.Module):
    """MLP 39 -> 128 -> 128 -> 39 with a residual ``fc3(...) + relu(x)`` (the original ``Refiner``).

    Args:
        hidden: width of the two hidden layers (128 in the original).
    """

    def __init__(self, hidden: int = 128) -> None:
        super().__init__()
        hidden = check_int("hidden", hidden, 1)
        self.hidden = hidden
        n = 3 * (NUM_JOINTS - 1)
        self.fc1 = nn.Sequential(nn.Linear(n, hidden), nn.ReLU())
        self.fc2 = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU())
        self.fc3 = nn.Sequential(nn.Linear(hidden, n))

    @property
    def config(self) -> dict:
        """Constructor arguments (saved as ``config.json``)."""
        return {"hidden": self.hidden}

    def forward(self, rr_poses: torch.Tensor) -> torch.Tensor:
        """(P, 13, 3) normalised root-relative poses (holes -1) -> (P, 13, 3) refined, same representation."""
        if not isinstance(rr_poses, torch.Tensor):
            raise TypeError(f"rr_poses must be a torch.Tensor, got {type(rr_poses).__name__}")
        if rr_poses.ndim != 3 or tuple(rr_poses.shape[1:]) != (NUM_JOINTS - 1, 3):
            raise ValueError(f"rr_poses must have shape (P, {NUM_JOINTS - 1}, 3), got shape {tuple(rr_poses.shape)}")
        x = rr_poses.reshape(rr_poses.shape[0], -1)
        y = self.fc3(self.fc2(self.fc1(x))) + torch.relu(x)
        return y.reshape(rr_poses.shape)

    @torch.no_grad()
    def refine(
        self,
        poses: torch.Tensor,
        confidence: torch.Tensor,
        hole_threshold: float = 0.2,
        replace_threshold: float = 1.0,
    ) -> torch.Tensor:
        """Refine a batch of poses (the original ``Refiner.refine``, batched over people).

        Joints 1..13 whose confidence is ``<= hole_threshold`` (or that are non-finite) enter the network as holes; a
        joint is replaced by its refined version where its confidence is ``<= replace_threshold`` or it is
        non-finite, and kept otherwise. head_top is always kept; people whose head_top is missing are returned
        unchanged. The defaults are those of the authors' demo (``hole_th=0.2, replace_th=1``, i.e. every joint
        replaced for confidences in [0, 1]); the original method's own default ``replace_th`` was 0.4.

        Args:
            poses: (P, 14, 3) metres, camera frame, NaN for missing joints.
            confidence: (P, 14) in [0, 1].
            hole_threshold: confidence at or below which a joint is a hole.
            replace_threshold: confidence at or below which a joint takes its refined position.

        Returns:
            (P, 14, 3) refined poses, dtype of ``poses``.
        """
        _check_poses("poses", poses)
        if poses.ndim != 3:
            raise ValueError(f"poses must have shape (P, {NUM_JOINTS}, 3), got shape {tuple(poses.shape)}")
        if not isinstance(confidence, torch.Tensor):
            raise TypeError(f"confidence must be a torch.Tensor, got {type(confidence).__name__}")
        if tuple(confidence.shape) != tuple(poses.shape[:2]):
            raise ValueError(f"confidence must have shape {tuple(poses.shape[:2])}, got {tuple(confidence.shape)}")
        hole_threshold = check_real("hole_threshold", hole_threshold, nan=False)
        replace_threshold = check_real("replace_threshold", replace_threshold, nan=False)
        if poses.shape[0] == 0:
            return poses.clone()
        param = self.fc1[0].weight
        x = poses.to(device=param.device, dtype=param.dtype)
        conf = confidence.to(device=param.device, dtype=param.dtype)
        holes = conf <= hole_threshold
        holes[:, 0] = False  # as the original: head_top's confidence never makes holes, it is the reference
        rr = to_root_relative(x, missing=holes)
        root = x[:, 0]
        refined = from_root_relative(self(rr), torch.nan_to_num(root))
        finite = torch.isfinite(x).all(-1)
        replace = (conf <= replace_threshold) | ~finite
        replace[:, 0] = False
        replace &= finite[:, :1]  # no root, no reference frame: leave the person as is
        out = torch.where(replace.unsqueeze(-1), refined, x)
        return out.to(device=poses.device, dtype=poses.dtype)
