"""JTA (Joint Track Auto, Fabbri et al. ECCV 2018) in its raw release layout.

Layout under ``root``::

    annotations/{train,val,test}/seq_N.json   rows [frame, person_id, joint_type, x2d, y2d, x3d, y3d, z3d,
                                               occluded, self_occluded] over 22 joint types, frames from 1
    frames/{train,val,test}/seq_N/F.jpg       the frames (``to_imgs.py`` of the release), 1920x1080

The 22 joint types are mapped to the 14 LoCO uses (:data:`USEFUL_JOINTS`, the original ``USEFUL_JOINTS``).
Frame sampling ``"paper"`` follows the original LoCO code: training uses 180 frames per sequence (1, 6, 11, ...,
896); validation and test use frame 123 of every sequence of the split.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from loco._checks import check_choice
from loco.data._io import DataFormatError, as_array, read_image, read_json, require_dir
from loco.geometry import Camera

__all__ = ["JTA", "USEFUL_JOINTS", "JTA_JOINT_NAMES", "SPLITS", "read_sequence"]

SPLITS = ("train", "val", "test")

JTA_JOINT_NAMES: tuple[str, ...] = (
    "head_top", "head_center", "neck", "right_clavicle", "right_shoulder", "right_elbow", "right_wrist",
    "left_clavicle", "left_shoulder", "left_elbow", "left_wrist", "spine0", "spine1", "spine2", "spine3", "spine4",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
)  # fmt: skip

#: JTA joint type of each of the 14 LoCO joints.
USEFUL_JOINTS: tuple[int, ...] = (0, 2, 4, 5, 6, 8, 9, 10, 16, 17, 18, 19, 20, 21)

_FRAMES_PER_SEQUENCE = 900
_WIDTH, _HEIGHT = 1920, 1080
_ROW = "rows [frame, person_id, joint_type, x2d, y2d, x3d, y3d, z3d, occluded, self_occluded]"


def read_sequence(path: Path) -> np.ndarray:
    """Read one JTA annotation file.

    Args:
        path: ``annotations/<split>/seq_N.json``.

    Returns:
        (N, 10) float64 rows, validated (frames >= 1, joint types in 0..21, flags 0/1).
    """
    path = Path(path)
    rows = read_json(path, f"a JTA annotation file: a JSON list of {_ROW}")
    if isinstance(rows, list) and not rows:
        return np.zeros((0, 10))
    arr = as_array(rows, path, f"the JTA annotation ({_ROW})", (None, 10))
    if not np.all(np.isfinite(arr[:, :3])) or np.any(arr[:, 0] < 1):
        raise DataFormatError(f"{path}: frame numbers must be finite integers >= 1 (frames are counted from 1)")
    jt = arr[:, 2]
    if np.any((jt < 0) | (jt > 21) | (jt != np.round(jt))):
        raise DataFormatError(f"{path}: joint types must be integers in 0..21, got {np.unique(jt)[:10]}")
    if np.any((arr[:, 8:] != 0) & (arr[:, 8:] != 1)):
        raise DataFormatError(f"{path}: occluded / self_occluded flags must be 0 or 1")
    return arr


def _frame_poses(rows: np.ndarray) -> dict[str, np.ndarray]:
    """Rows of one frame -> per-person arrays over the 14 joints (NaN where a joint is missing)."""
    ids = np.unique(rows[:, 1]).astype(np.int64)
    p = len(ids)
    out = {
        "poses3d": np.full((p, 14, 3), np.nan),
        "poses2d": np.full((p, 14, 2), np.nan),
        "occluded": np.zeros((p, 14), dtype=bool),
        "self_occluded": np.zeros((p, 14), dtype=bool),
    }
    lut = np.full(22, -1)
    lut[list(USEFUL_JOINTS)] = np.arange(14)
    person = np.searchsorted(ids, rows[:, 1].astype(np.int64))
    joint = lut[rows[:, 2].astype(np.int64)]
    keep = joint >= 0
    person, joint, r = person[keep], joint[keep], rows[keep]
    out["poses3d"][person, joint] = r[:, 5:8]
    out["poses2d"][person, joint] = r[:, 3:5]
    out["occluded"][person, joint] = r[:, 8] > 0
    out["self_occluded"][person, joint] = r[:, 9] > 0
    out["person_ids"] = ids
    return out


class JTA(torch.utils.data.Dataset):
    """JTA frames with their 14-joint 3D poses.

    Args:
        root: the JTA-Dataset directory (holding ``annotations/`` and, for images, ``frames/``).
        split: ``"train"``, ``"val"`` or ``"test"``.
        frames: ``"paper"`` (the original LoCO sampling, see the module docstring), ``"all"`` (every annotated
            frame; reads every annotation file up front), an int step (frames 1, 1 + step, ...), or an iterable
            of frame numbers.
        load_images: read ``frames/<split>/seq_N/<frame>.jpg`` into ``image``; a missing frame raises
            ``FileNotFoundError`` naming it.
        cache_size: how many parsed annotation files to keep in memory.

    A sample is a dict: ``image`` (3, 1080, 1920) uint8 (when ``load_images``), ``camera`` (the JTA camera),
    ``poses3d`` (P, 14, 3) float32 camera frame metres (NaN for a missing joint), ``poses2d`` (P, 14, 2) float32
    pixels, ``visibility`` (P, 14) bool (on screen, neither occluded nor self-occluded), ``on_screen``,
    ``occluded``, ``self_occluded`` (P, 14) bool, ``person_ids`` (P,) int64, ``sequence``, ``frame``, ``path``.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "test",
        frames: str | int | Iterable[int] = "paper",
        load_images: bool = True,
        cache_size: int = 4,
    ) -> None:
        split = check_choice("split", split, SPLITS)
        self.root = Path(root)
        self.split = split
        self.load_images = bool(load_images)
        ann_dir = require_dir(
            self.root / "annotations" / split, f"JTA annotations: seq_N.json files of the {split} split"
        )
        seqs = sorted(
            (int(m.group(1)), p) for p in ann_dir.iterdir() if (m := re.fullmatch(r"seq_(\d+)\.json", p.name))
        )
        if not seqs:
            raise FileNotFoundError(f"{ann_dir}: no seq_N.json annotation files; expected the JTA {split} split")
        self.sequences = [s for s, _ in seqs]
        self._paths = dict(seqs)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_size = max(int(cache_size), 1)
        self.items: list[tuple[int, int]] = []
        for seq, path in seqs:
            for f in self._frames_of(seq, path, frames):
                self.items.append((seq, f))

    def _frames_of(self, seq: int, path: Path, frames) -> list[int]:
        if isinstance(frames, str):
            if frames == "paper":
                return list(range(1, _FRAMES_PER_SEQUENCE + 1, 5)) if self.split == "train" else [123]
            if frames == "all":
                return sorted(int(f) for f in np.unique(self._rows(seq)[:, 0]))
            raise ValueError(f"frames must be 'paper', 'all', an int step or frame numbers, got {frames!r}")
        if isinstance(frames, (int, np.integer)) and not isinstance(frames, bool):
            if frames < 1:
                raise ValueError(f"frames step must be >= 1, got {frames}")
            return list(range(1, _FRAMES_PER_SEQUENCE + 1, int(frames)))
        try:
            out = [int(f) for f in frames]
        except TypeError:
            raise TypeError(f"frames must be 'paper', 'all', an int step or frame numbers, got {frames!r}") from None
        if any(f < 1 for f in out):
            raise ValueError(f"frame numbers start at 1, got {min(out)}")
        return out

    def _rows(self, seq: int) -> np.ndarray:
        if seq in self._cache:
            self._cache.move_to_end(seq)
            return self._cache[seq]
        rows = read_sequence(self._paths[seq])
        self._cache[seq] = rows
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return rows

    def __len__(self) -> int:
        return len(self.items)

    def frame_path(self, seq: int, frame: int) -> Path:
        """Where the image of ``frame`` of sequence ``seq`` lives."""
        return self.root / "frames" / self.split / f"seq_{seq}" / f"{frame}.jpg"

    def __getitem__(self, index: int) -> dict:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for JTA {self.split} of length {len(self)}")
        seq, frame = self.items[index]
        rows = self._rows(seq)
        data = _frame_poses(rows[rows[:, 0] == frame])
        u, v = data["poses2d"][..., 0], data["poses2d"][..., 1]
        on_screen = (u >= 0) & (u < _WIDTH) & (v >= 0) & (v < _HEIGHT) & (data["poses3d"][..., 2] > 0)
        sample = {
            "camera": Camera.jta(),
            "poses3d": torch.from_numpy(data["poses3d"].astype(np.float32)),
            "poses2d": torch.from_numpy(data["poses2d"].astype(np.float32)),
            "visibility": torch.from_numpy(on_screen & ~data["occluded"] & ~data["self_occluded"]),
            "on_screen": torch.from_numpy(on_screen),
            "occluded": torch.from_numpy(data["occluded"]),
            "self_occluded": torch.from_numpy(data["self_occluded"]),
            "person_ids": torch.from_numpy(data["person_ids"]),
            "sequence": seq,
            "frame": frame,
            "path": str(self.frame_path(seq, frame)),
        }
        if self.load_images:
            sample["image"] = read_image(self.frame_path(seq, frame), "a JTA frame (1920x1080 JPEG from to_imgs.py)")
        return sample
